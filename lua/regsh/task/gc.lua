-- regsh.task.gc: what dead runs leave behind. Runs Queued or Running whose
-- regsh is gone end as Error; containers, networks and volumes labelled
-- regsh.run=ID whose owner (label regsh.owner, "pid:start") is gone are
-- removed. `regsh gc` (cli/gc.lua) and `regsh serve` at start call collect.
local exec_container = require "regsh.task.exec_container"
local json = require "regsh.json"

local M = {}

--- alive(pid, me) -> whether pid is a live regsh other than me (a pid
--- reused by some other program does not keep a run alive; me: the caller,
--- which is new, so a run recorded with its pid is an older process's).
function M.alive(pid, me)
  if not pid or pid == me or not exec_container.start_time(pid) then return false end
  local f = io.open("/proc/" .. pid .. "/comm")
  if not f then return false end
  local name = f:read("l") or ""
  f:close()
  return name:find("regsh", 1, true) ~= nil
end

--- owner_alive(value) -> whether the process a regsh.owner label names
--- ("pid:start", start in clock ticks) is still that process.
function M.owner_alive(value)
  local pid, start = tostring(value or ""):match("^(%d+):(%d+)$")
  if not pid then return false end
  return exec_container.start_time(math.tointeger(tonumber(pid))) == start
end

-- The runs of the store no live regsh runs, with the reason each is Error.
local function dead_runs(st, me)
  local rows = assert(st.db:rows([[
SELECT id, task, trigger, pid, executor FROM task_runs WHERE status IN ('Queued', 'Running')
ORDER BY seq]]))
  local out = {}
  for _, run in ipairs(rows) do
    if not M.alive(run.pid, me) then
      run.error = string.format("the %s running it died (pid %s)",
        run.trigger == "Timer" and "daemon" or "regsh", tostring(run.pid))
      out[#out + 1] = run
    end
  end
  return out
end

-- Mark a dead run Error, its steps in progress failed; false when it ended
-- meanwhile (its status is read again inside the write transaction).
local function mark(st, run)
  return assert(st:transaction(function()
    local row = st.db:first("SELECT status FROM task_runs WHERE id = ?", run.id)
    if not row or (row.status ~= "Queued" and row.status ~= "Running") then return false end
    local ok, err, code = require("regsh.task.runs").finish(st, run.id, "Error", run.error)
    if not ok then return nil, err, code end
    ok, err, code = st.db:exec([[
UPDATE task_steps SET status = 'failed', error = ? WHERE run_id = ? AND status = 'inprogress']],
      run.error, run.id)
    if not ok then return nil, err, code end
    return true
  end))
end

-- docker's {{json .}} gives labels as "k=v,k=v"; podman's json a table
local function label_table(labels)
  if type(labels) == "table" then return labels end
  local out = {}
  for item in tostring(labels or ""):gmatch("[^,]+") do
    local k, v = item:match("^([^=]+)=(.*)$")
    if k then out[k] = v end
  end
  return out
end

local function object_name(obj)
  local names = obj.Names or obj.Name or obj.name
  if type(names) == "table" then names = names[1] end
  return names
end

local KINDS = {
  {kind = "container", list = {"ps", "-a"}},
  {kind = "network", list = {"network", "ls"}},
  {kind = "volume", list = {"volume", "ls"}},
}

-- The objects of one engine labelled regsh.run: {kind, name, run, owner}.
local function engine_objects(ex)
  local out, errors = {}, {}
  for _, k in ipairs(KINDS) do
    local args = {table.unpack(k.list)}
    for _, a in ipairs{"--filter", "label=regsh.run", "--format",
        ex.engine == "podman" and "json" or "{{json .}}"} do
      args[#args + 1] = a
    end
    local r, err = ex:engine_run(args, "cannot list " .. k.kind .. "s")
    if not r then
      errors[#errors + 1] = err
    else
      -- podman prints one JSON array, docker one object per line
      local items = ex.engine == "podman" and json.decode(r.stdout) or {}
      if ex.engine ~= "podman" then
        for line in r.stdout:gmatch("[^\n]+") do items[#items + 1] = json.decode(line) end
      end
      for _, obj in ipairs(type(items) == "table" and items or {}) do
        local labels = label_table(obj.Labels or obj.labels)
        local name = object_name(obj)
        if name and labels["regsh.run"] then
          out[#out + 1] = {engine = ex.engine, kind = k.kind, name = name,
            run = labels["regsh.run"], owner = labels["regsh.owner"]}
        end
      end
    end
  end
  return out, errors
end

-- (no `network rm -f`: it would remove the containers on the network, and
-- those are judged one by one above)
local REMOVE = {
  podman = {container = {"rm", "-f", "-t", "0"}, network = {"network", "rm"},
            volume = {"volume", "rm", "-f"}},
  docker = {container = {"rm", "-f"}, network = {"network", "rm"}, volume = {"volume", "rm", "-f"}},
}

-- Whether an object may go: never while its owner lives (that regsh, or its
-- reaper after a kill -9, removes it). Without an owner label (an older
-- regsh made it) only when its run is one of this store's that ended or
-- died: run ids repeat across stores, so one in no store may be alive.
local function removable(obj, ended_runs)
  if obj.owner then return not M.owner_alive(obj.owner) end
  return ended_runs[obj.run] == true
end

-- The engines to look in: opts.engines, else each engine a run of the
-- store used, and podman too with opts.podman (regsh gc: objects of runs
-- that are in no store). regsh serve starts without a look at an engine
-- its runs never used.
local function engines(st, opts)
  if opts.engines then return opts.engines end
  local list, seen = {}, {}
  if opts.podman then list[1], seen.podman = "podman", true end
  for _, row in ipairs(assert(st.db:rows([[
SELECT DISTINCT executor FROM task_runs WHERE executor IN ('podman', 'docker')
ORDER BY executor DESC]]))) do
    if not seen[row.executor] then
      list[#list + 1], seen[row.executor] = row.executor, true
    end
  end
  return list
end

--- collect(st [, opts]) -> report: ends the store's dead runs as Error and
--- removes the labelled objects of runs that are not alive. opts.dry_run:
--- change nothing, report what would be done; opts.engines: {"podman", ...}
--- (default: the engines the store's runs used, and podman with opts.podman);
--- opts.env: laid over the engines' environment. report = {runs = {{id,
--- task, error}}, objects = {{engine, kind, name, run}}, errors = {msg}}.
--- It never touches a run whose regsh is alive, nor that regsh's objects.
function M.collect(st, opts)
  opts = opts or {}
  local me = exec_container.self_pid()
  local report = {runs = {}, objects = {}, errors = {}, dry_run = opts.dry_run == true}
  for _, run in ipairs(dead_runs(st, me)) do
    if opts.dry_run or mark(st, run) then
      report.runs[#report.runs + 1] = {id = run.id, task = run.task, error = run.error,
        executor = run.executor}
    end
  end
  local ended_runs = {}
  for _, row in ipairs(assert(st.db:rows("SELECT id, status, pid FROM task_runs"))) do
    local going = row.status == "Queued" or row.status == "Running"
    ended_runs[row.id] = not going or not M.alive(row.pid, me)
  end
  for _, engine in ipairs(engines(st, opts)) do
    local ok, ex = pcall(exec_container.new, {engine = engine, env = opts.env})
    if ok and ex then
      local objects, errors = engine_objects(ex)
      for _, e in ipairs(errors) do report.errors[#report.errors + 1] = e end
      for _, obj in ipairs(objects) do
        if removable(obj, ended_runs) then
          local removed = true
          if not opts.dry_run then
            local args = {table.unpack(REMOVE[engine][obj.kind])}
            args[#args + 1] = obj.name
            local r, err = ex:engine_run(args, "cannot remove " .. obj.kind .. " " .. obj.name)
            -- gone meanwhile (the run's reaper was quicker) is not an error
            local gone = tostring(err):lower()
            if not r and not (gone:find("no such") or gone:find("not found")) then
              removed = false
              report.errors[#report.errors + 1] = err
            end
          end
          if removed then report.objects[#report.objects + 1] = obj end
        end
      end
    end
  end
  return report
end

return M
