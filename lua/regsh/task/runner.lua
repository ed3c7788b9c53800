-- regsh.task.runner: one run of a task model with ACR's semantics: the
-- context in a private workspace, the executor checked and prepared before
-- any step starts, ready steps started as tasks (Kahn, no cap), per-step
-- timeout/retries/repeat/ignoreErrors/detach, fail-fast, a run timeout,
-- Ctrl-C, cleanup always; output streamed and kept as the run log in the store.
-- Executors (exec_local.lua, exec_container.lua) turn a step into argv.
local async = require "regsh.async"
local fs = require "regsh.fs"
local proc = require "regsh.proc"
local redact = require "regsh.registry.redact"
local printable = redact.printable
local runs = require "regsh.task.runs"

local M = {}

M.DEFAULT_TIMEOUT = 3600
M.MASK = "*****"

local cancelled = async.cancelled

-- linux/amd64 as Go spells them (.Run.OS, .Run.Architecture)
local GOARCH = {x86_64 = "amd64", aarch64 = "arm64", armv7l = "arm", i686 = "386",
                ppc64le = "ppc64le", s390x = "s390x", riscv64 = "riscv64"}
local platform
local function host_platform()
  if not platform then
    local r = proc.run{"uname", "-sm"}
    local os_name, machine = (r and r.stdout or ""):match("^(%S+)%s+(%S+)")
    platform = {os = (os_name or "linux"):lower(), arch = GOARCH[machine] or machine or "amd64"}
  end
  return platform
end

--- run_info{id, registry, workspace, task_name, commit, branch, time} -> the
--- template's .Run: ID, Registry, RegistryName, Date (UTC, 20060102-150405z),
--- SharedVolume, OS, Architecture, Commit, Branch, TaskName.
function M.run_info(r)
  local registry = r.registry or ""
  local p = host_platform()
  return {
    ID = r.id, Registry = registry, RegistryName = registry:match("^[^.]*"),
    Date = os.date("!%Y%m%d-%H%M%S", math.floor(r.time or os.time())) .. "z",
    SharedVolume = r.workspace or "", OS = p.os, Architecture = p.arch,
    Commit = r.commit or "", Branch = r.branch or "", TaskName = r.task_name or "",
  }
end

--- render(source, info [, acr_yaml]) -> model | fail: a task file's text
--- through the YAML pipeline with this run's .Run. Without acr_yaml (not in
--- this build yet) the YAML is decoded as it is, without templates.
function M.render(source, info, acr_yaml)
  local o = source.opts or {}
  if acr_yaml == nil then
    local ok, mod = pcall(require, "regsh.task.acr_yaml")
    acr_yaml = ok and mod or false
  end
  if acr_yaml then
    return acr_yaml.load(source.text, {name = o.name or "acb.yaml", run = info,
      values = o.values or {}, secrets = o.secrets or {}, base_dir = o.base_dir})
  end
  local raw, err = require("regsh.yaml").decode(source.text)
  if raw == nil then return nil, err, "EYAML" end
  if type(raw) ~= "table" then return nil, "ETASK: the task is not a mapping", "ETASK" end
  return require("regsh.task").normalize(raw)
end

-- An executor from opts.executor: a ready one, or its name.
local function executor_of(opts)
  local ex = opts.executor
  if type(ex) == "table" then return ex end
  if ex == nil then
    ex = "local"
    for _, engine in ipairs{"podman", "docker"} do
      if require("regsh.task.exec_local").find_program(engine) then ex = engine; break end
    end
  end
  if ex == "local" then return require("regsh.task.exec_local").new(opts) end
  if ex ~= "podman" and ex ~= "docker" then
    error(string.format("unknown executor '%s' (podman, docker or local)", tostring(ex)), 3)
  end
  local ok, container = pcall(require, "regsh.task.exec_container")
  if not ok then
    return nil, "ECONTAINER: the " .. ex .. " executor is not in this build", "ECONTAINER"
  end
  return container.new{engine = ex, registry = opts.registry}
end

-- The store records go to: opts.store (an open store or a path), else the
-- default state file; false keeps them in memory for this run only.
local function store_of(opts)
  local st = opts.store
  if type(st) == "table" then return st, false end
  local store = require "regsh.store"
  if st == false then return assert(store.open(":memory:")), true end
  local s, err, code = store.open(st)
  if not s then return nil, err, code end
  return s, true
end

-- Each string of `secrets` (strings or regsh secrets) in each form it may
-- be printed in (redact.variants: base64, base64url, each line of a
-- multi-line one), longest first, to be masked in output and log.
local function masks_of(secrets)
  local list, seen = {}, {}
  for _, s in ipairs(secrets or {}) do
    s = redact.reveal(s)
    if type(s) == "string" and s ~= "" then
      for _, form in ipairs(redact.variants(s)) do
        if not seen[form] then seen[form], list[#list + 1] = true, form end
      end
    end
  end
  table.sort(list, function(a, b) return #a > #b end)
  return list
end

local function mask(line, masks)
  for _, s in ipairs(masks) do line = redact.replace(line, s, M.MASK) end
  return line
end

--- masker(secrets) -> function(text) -> text: text with the secrets (and
--- their base64, base64url and line forms) replaced by M.MASK, for what
--- shows a task rendered with them (task show).
function M.masker(secrets)
  local masks = masks_of(secrets)
  return function(text) return mask(tostring(text), masks) end
end

-- The output side of a run: every line masked, shown live (opts.on_output,
-- else stdout) and kept for the log chunks (flushed about once a second).
local function make_output(run, opts)
  local masks = masks_of(run.secrets)
  local out = opts.on_output
  if out == nil then
    out = function(line)
      io.stdout:write(line, "\n")
      io.stdout:flush()
    end
  end
  local pending = {}
  --- run.mask(text): text with this run's secrets masked (errors, records).
  function run.mask(text)
    if text == nil then return nil end
    return mask(tostring(text), masks)
  end
  --- run.add_secret(value): one more secret to mask from now on (registry
  --- credentials an executor resolved for the run).
  function run.add_secret(value)
    run.secrets[#run.secrets + 1] = value
    masks = masks_of(run.secrets)
  end
  function run.emit(line, step_id)
    line = mask(line, masks)
    if out then out(line, step_id) end
    pending[#pending + 1] = line
    pending[#pending + 1] = "\n"
  end
  -- the runner's own lines carry errors that may quote a server (a
  -- registry, a context URL): their control characters are escaped
  function run.log(fmt, ...)
    run.emit(os.date("%Y/%m/%d %H:%M:%S ") .. printable(string.format(fmt, ...)))
  end
  function run.flush()
    if #pending == 0 or not run.id then return end
    local text = table.concat(pending)
    pending = {}
    local ok, err = runs.append_log(run.store, run.id, text)
    if not ok then io.stderr:write("regsh: run log: ", tostring(err), "\n") end
  end
end

-- Materialise the context into the workspace: a regsh.context, a path
-- (through regsh.context when it is there, else a directory copied), or nil.
local function materialize(run, context, opts)
  if context == nil then return true end
  if type(context) == "string" then
    if context:lower() == "/dev/null" then return true end
    local ok, cx = pcall(require, "regsh.context")
    if ok and type(cx) == "table" and cx.open then
      local c, err, code = cx.open(context, {dockerfile = opts.dockerfile})
      if not c then return nil, err, code end
      run.owned_context, context = c, c
    else
      local info = fs.stat(context)
      if not info or info.type ~= "directory" then
        return nil, "ECONTEXT: " .. context .. ": no such directory", "ECONTEXT"
      end
      local r, err = proc.run{"cp", "-a", context .. "/.", run.workspace, stdout = "null"}
      if not r or not r.ok then
        return nil, "ECONTEXT: " .. context .. ": cannot copy: " .. tostring(err or r.stderr),
          "ECONTEXT"
      end
      return true
    end
  end
  run.commit, run.branch = context.commit, context.branch
  return context:materialize(run.workspace)
end

local function now() return async.monotonic() end

local function result_error(res)
  if res.code then return "exit status " .. res.code end
  return "signal: " .. tostring(res.signal)
end

-- fn(...) as a task that gets cancelled after `seconds`: returns fn's
-- results, or nil, "ETIMEDOUT: timed out". If the caller is cancelled, so is
-- fn's task, which is waited for (its processes are killed and reaped).
local function with_timeout(seconds, fn, ...)
  local timed_out = false
  local inner = async.spawn(fn, ...)
  local timer = async.spawn(function()
    async.sleep(seconds)
    timed_out = true
    inner:cancel()
  end)
  local r = table.pack(pcall(inner.wait, inner))
  timer:cancel()
  if not r[1] then
    if r[2] == cancelled and timed_out then return nil, "ETIMEDOUT: timed out", "ETIMEDOUT" end
    if inner.status == "running" then
      inner:cancel()
      pcall(inner.wait, inner)
    end
    error(r[2], 0)
  end
  return table.unpack(r, 2, r.n)
end

-- Wait for a step's process -> pcall's results. A stop (a cancellation)
-- raises at once, but the process only got SIGTERM: closing the handle now
-- would SIGKILL it. So it gets its grace period (regsh.proc sends SIGKILL
-- when that is over) unless a second signal kills it sooner (watch_signals).
local function wait_out(run, p)
  local ok, res = pcall(p.wait, p)
  if not ok and res == cancelled then pcall(p.wait, p) end
  run.procs[p] = nil
  return ok, res
end

-- regsh.proc hands over whole lines, but cuts one longer than this
-- (src/proc.c LINE_LIMIT): the pieces are joined again (up to a few of
-- them) so that a secret across a cut is still masked.
M.LINE_CUT = 1024 * 1024
local function joined(deliver)
  local held
  local function take(line)
    if #line >= M.LINE_CUT and #(held or "") < 4 * M.LINE_CUT then
      held = (held or "") .. line
      return
    end
    if held then line, held = held .. line, nil end
    deliver(line)
  end
  local function finish()
    if held then
      local line = held
      held = nil
      deliver(line)
    end
  end
  return take, finish
end

-- One process of a step: streamed, recorded as an attempt. The executor's
-- spawn option `step_detached = true` (local detach) means success once it
-- started: it then runs on in a task that cleanup cancels.
local function launch(run, step, argv, spawn_opts, attempt, capture)
  local function line_out(line)
    if capture then capture[#capture + 1] = line end
    run.emit(step.id .. " | " .. line, step.id)
  end
  local out, end_out = joined(line_out)
  local err_out, end_err = joined(line_out)
  local function ended()
    end_out()
    end_err()
  end
  -- grace: the seconds between a stop's SIGTERM and its SIGKILL (run.grace)
  local spec = {argv = argv, on_stdout = out, on_stderr = err_out, grace = run.grace}
  local detached, drop_stderr = false, nil
  for k, v in pairs(spawn_opts or {}) do
    if k == "step_detached" then detached = v
    elseif k == "drop_stderr" then drop_stderr = v   -- the engine's own noise
    else spec[k] = v end
  end
  if drop_stderr then
    spec.on_stderr = function(line)
      if not drop_stderr(line) then err_out(line) end
    end
  end
  local rec = run.records[step.id]
  rec.attempts = rec.attempts + 1
  local started, wall = now(), async.now()
  local p, err = proc.spawn(spec)
  if not p then
    runs.attempt(run.store, run.id, {step_id = step.id, attempt = attempt, started = wall,
      duration = now() - started})
    return nil, err
  end
  run.procs[p] = true
  if detached then
    run.detached[#run.detached + 1] = async.spawn(function()
      local handle <close> = p
      wait_out(run, handle)
      ended()
    end)
    runs.attempt(run.store, run.id, {step_id = step.id, attempt = attempt, started = wall,
      duration = 0})
    return true
  end
  local ok, res = wait_out(run, p)
  ended()
  if not ok then
    p:close()
    runs.attempt(run.store, run.id, {step_id = step.id, attempt = attempt, signal = "SIGKILL",
      started = wall, duration = now() - started})
    error(res, 0)
  end
  p:close()
  runs.attempt(run.store, run.id, {step_id = step.id, attempt = attempt, exit_code = res.code,
    signal = res.signal, started = wall, duration = now() - started})
  run.exit_codes[step.id] = res.code
  if res.ok then return true end
  return nil, result_error(res)
end

-- retryOnErrors: retry only when the attempt's output has one of them
local function retryable(step, capture)
  if not step.retryOnErrors then return true end
  local text = table.concat(capture, "\n")
  for _, s in ipairs(step.retryOnErrors) do
    if text:find(s, 1, true) then return true end
  end
  return false
end

-- cmd and build: repeat+1 rounds of up to retries+1 attempts (ACR's log lines)
local function container_step(run, step)
  local errors, attempt = {}, 0
  for _ = 0, step["repeat"] do
    local round_error
    for try = 1, step.retries + 1 do
      attempt = attempt + 1
      run.log("Launching container with name: %s", step.id)
      local argv, spawn_opts = run.executor:argv(run, step, attempt)
      local capture = step.retryOnErrors and {} or nil
      local ok, err = launch(run, step, argv, spawn_opts, attempt, capture)
      if ok then
        run.log("Successfully executed container: %s", step.id)
        round_error = nil
        break
      end
      round_error = err
      if try <= step.retries and retryable(step, capture or {}) then
        run.log("Container failed during run: %s, waiting %d seconds before retrying...",
          step.id, step.retryDelay)
        async.sleep(step.retryDelay)
      else
        run.log("Container failed during run: %s. No retries remaining.", step.id)
        break
      end
    end
    if round_error then errors[#errors + 1] = round_error end
  end
  if #errors > 0 then return nil, table.concat(errors, "; ") end
  return true
end

-- push: each image in turn, 3 attempts with backoff 250 ms * 2^n (capped 5 s)
local function push_step(run, step)
  local attempt = 0
  for _, image in ipairs(step.push) do
    local pushed = false
    for n = 0, 2 do
      attempt = attempt + 1
      run.log("Pushing image: %s, attempt %d", image, n + 1)
      local argv, spawn_opts = run.executor:push_argv(run, image)
      if launch(run, step, argv, spawn_opts, attempt) then
        run.log("Successfully pushed image: %s", image)
        pushed = true
        break
      end
      if n < 2 then async.sleep(math.min(0.25 * 2 ^ n, 5)) end
    end
    if not pushed then return nil, "failed to push images successfully" end
  end
  return true
end

-- What a Lua step's function gets.
local function step_context(run, step)
  local ctx = {id = run.id, step = step.id, workspace = run.workspace, info = run.info,
               values = run.values, registry_host = run.registry}
  function ctx.log(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    for line in (table.concat(parts, " ") .. "\n"):gmatch("([^\n]*)\n") do
      run.emit(step.id .. " | " .. line, step.id)
    end
  end
  return setmetatable(ctx, {__index = function(t, key)
    if key == "registry" and run.registry then  -- opened on first use
      local client = assert(require("regsh.registry").open(run.registry))
      rawset(t, "registry", client)
      return client
    end
  end})
end

local function lua_step(run, step)
  local r = table.pack(xpcall(step.fn, function(e)
    if e == cancelled then return e end
    return tostring(e)
  end, step_context(run, step)))
  if not r[1] then
    if r[2] == cancelled then error(cancelled, 0) end
    return nil, r[2]
  end
  if r[2] == nil and type(r[3]) == "string" then return nil, r[3] end
  if r[2] == false then return nil, "the step's function returned false" end
  return true
end

local BODIES = {cmd = container_step, build = container_step, push = push_step, lua = lua_step}

-- The step records: in memory (run.steps) and in the store.
local function save_step(run, rec)
  runs.step(run.store, run.id, {step_id = rec.id, idx = rec.index, status = rec.status,
    started = rec.started_at, finished = rec.finished_at, exit_code = rec.exit_code,
    error = run.mask(rec.error)})
end

-- One step, from its dependencies' end to its own: startDelay, then the body
-- under the step timeout. Returns true when its dependants may start.
local function execute(run, step, rec)
  if step.startDelay > 0 then
    run.log("Waiting %d seconds before executing step ID: %s", step.startDelay, step.id)
    async.sleep(step.startDelay)
  end
  rec.status, rec.started_at, rec.t0 = "inprogress", async.now(), now()
  save_step(run, rec)
  local wd = step.workingDirectory or "/workspace"
  if step.disableWorkingDirectoryOverride then wd = "" end
  run.log("Executing step ID: %s. Timeout(sec): %d, Working directory: '%s', Network: '%s'",
    step.id, step.timeout, wd, run.executor and run.executor.step_network
      and run.executor:step_network(run, step) or step.network or run.network or "")
  local ok, err = with_timeout(step.timeout, BODIES[step.kind], run, step)
  rec.elapsed = now() - rec.t0
  rec.finished_at = async.now()
  rec.exit_code = run.exit_codes[step.id]
  if ok then
    rec.status = "successful"
  elseif step.ignoreErrors then
    run.log("Step ID: %s encountered an error: %s, but is set to ignore errors. Continuing...",
      step.id, require("regsh.errors").detail(err))
    rec.status, rec.error = "successful", tostring(err)
    ok = true
  else
    rec.status, rec.error = "failed", require("regsh.errors").detail(err)
  end
  save_step(run, rec)
  return ok
end

-- Kahn's scheduling: a step starts once every step it depends on ended
-- well; the first failure stops the run (fail-fast), as do the run timeout
-- and a signal. Returns when no step runs any more.
local function schedule(run)
  local steps = run.model.steps
  local indegree, children, recs = {}, {}, run.records
  for _, s in ipairs(steps) do
    indegree[s.id] = #s.deps
    for _, d in ipairs(s.deps) do
      children[d] = children[d] or {}
      table.insert(children[d], s)
    end
  end
  local running, started = {}, {}
  local start
  local function finished(step, ok)
    running[step.id] = nil
    if not ok then
      run.stop("Failed", string.format("failed to run step ID: %s: %s", step.id,
        recs[step.id].error))
      run.log("failed to run step ID: %s: %s", step.id, recs[step.id].error)
      return
    end
    for _, child in ipairs(children[step.id] or {}) do
      indegree[child.id] = indegree[child.id] - 1
      if indegree[child.id] == 0 and not run.stopping then start(child) end
    end
  end
  start = function(step)
    local t = async.spawn(function()
      local ok, result = pcall(execute, run, step, recs[step.id])
      if not ok then
        running[step.id] = nil
        local rec = recs[step.id]
        if rec.status == "inprogress" then
          rec.status, rec.error = "failed", result == cancelled and "canceled" or tostring(result)
          rec.elapsed, rec.finished_at = now() - rec.t0, async.now()
          save_step(run, rec)
        end
        if result ~= cancelled then finished(step, false) end
        return
      end
      finished(step, result)
    end)
    running[step.id] = t
    started[#started + 1] = t
  end
  function run.cancel_steps()
    for _, t in pairs(running) do t:cancel() end
  end
  for _, s in ipairs(steps) do
    if indegree[s.id] == 0 and not run.stopping then start(s) end
  end
  local i = 1
  while i <= #started do
    pcall(started[i].wait, started[i])
    i = i + 1
  end
end

-- SIGINT/SIGTERM while the run goes: the first stops it (Canceled; steps
-- cancelled: SIGTERM to each step's process group, SIGKILL once the grace
-- period is over; cleanup runs), a second kills every process of the run at once.
local function watch_signals(run)
  local watchers = {}
  for _, name in ipairs{"SIGINT", "SIGTERM"} do
    watchers[#watchers + 1] = async.on_signal(name, function(sig)
      if run.signal then
        for p in pairs(run.procs) do pcall(p.kill, p, "SIGKILL") end
        return
      end
      run.signal = sig
      run.log("Received %s: canceling the run", sig)
      run.stop("Canceled", "the run was canceled (" .. sig .. ")")
    end)
  end
  return function()
    for _, w in ipairs(watchers) do w.close() end
  end
end

local function cleanup(run)
  for _, t in ipairs(run.detached) do t:cancel() end
  for _, t in ipairs(run.detached) do pcall(t.wait, t) end
  if run.executor and run.prepared ~= nil then
    local ok, err = pcall(run.executor.cleanup, run.executor, run)
    if not ok then run.log("cleanup: %s", tostring(err)) end
  end
  if run.reaper then run.reaper:stop() end
  if run.owned_context and run.owned_context.close then run.owned_context:close() end
  if run.workspace then fs.remove_tree(run.workspace) end
end

local TAIL = {
  Succeeded = "Run ID: %s was successful after %ds",
  Failed = "Run ID: %s failed after %ds. Error: %s",
  Error = "Run ID: %s failed after %ds. Error: %s",
  Timeout = "Run ID: %s timed out after %ds. Error: %s",
  Canceled = "Run ID: %s was canceled after %ds",
}

-- The summary lines, the tail, the last log chunk and the run record.
local function finish(run)
  for _, rec in ipairs(run.steps) do
    if rec.status == "successful" or rec.status == "failed" then
      run.emit(string.format("Step ID: %s marked as %s (elapsed time in seconds: %f)", rec.id,
        rec.status, rec.elapsed or 0))
    end
  end
  run.elapsed = now() - run.t0
  run.error = run.mask(run.error)   -- stored, shown by task list-runs and serve's log
  run.emit(string.format(TAIL[run.status], run.id, math.floor(run.elapsed + 0.5),
    printable(run.error)))
  run.flush()
  runs.finish(run.store, run.id, run.status, run.error)
end

-- run.model from the task: the model built in Lua, or the task file
-- rendered again with this run's .Run (id, date, workspace).
local function model_of(run, task)
  if task.source then return M.render(task.source, run.info) end
  return task.model or task
end

local function plan_argv(ex, run, step)
  if step.kind == "lua" then return "(Lua function, in-process)" end
  local argvs = {}
  local images = step.kind == "push" and step.push or {false}
  for _, image in ipairs(images) do
    local ok, argv = pcall(function()
      if image then return (ex:push_argv(run, image)) end
      return (ex:argv(run, step, 1))
    end)
    if not ok or type(argv) ~= "table" then
      argvs[#argvs + 1] = "(cannot run here: " .. require("regsh.errors").detail(tostring(argv))
        .. ")"
    else
      local quoted = {}
      for i, a in ipairs(argv) do
        quoted[i] = a:find("^[%w_@%%+=:,./-]+$") and a or "'" .. a:gsub("'", "'\\''") .. "'"
      end
      argvs[#argvs + 1] = table.concat(quoted, " ")
    end
  end
  return table.concat(argvs, "\n")
end

--- plan(task, opts) -> {steps = {{id, kind, deps, argv}}} | fail: what a run
--- would do, starting nothing (--dry-run). The run id is "dryrun".
function M.plan(task, opts)
  local ex, err, code = executor_of(opts)
  if not ex then return nil, err, code end
  local run = {id = "dryrun", workspace = "<workspace>", registry = opts.registry,
               labels = {}, secrets = {}}
  run.info = M.run_info{id = "dryrun", registry = opts.registry, workspace = run.workspace,
                        task_name = task.model and task.model.name}
  local model
  model, err, code = model_of(run, task)
  if not model then return nil, err, code end
  run.task, run.model = model, model
  local plan = {executor = ex.kind, steps = {}}
  for i, s in ipairs(model.steps) do
    plan.steps[i] = {id = s.id, kind = s.kind, deps = s.deps,
                     argv = mask(plan_argv(ex, run, s), masks_of(opts.secrets))}
  end
  return plan
end

--- run(task, opts) -> run | fail: the whole run, recorded in the store.
--- run.status is Succeeded, Failed, Canceled, Error or Timeout; run.error
--- says why. opts.task_name, trigger ("Manual"|"Timer"), timer and
--- occurrence go to the run record; a Timer run for an occurrence that
--- already has a run fails with EEXIST before anything starts.
--- opts.grace: seconds a stopped step's processes have between SIGTERM and
--- SIGKILL (default regsh.proc's 2).
--- opts.on_start(run) is called once the run is recorded (run.stop(status,
--- why) ends it); opts.signals = false leaves SIGINT/SIGTERM to the caller.
-- how a run shows (the REPL prints runs through it): id, status, steps, time
local Run = {__name = "regsh.task.run"}
function Run:__tostring()
  return string.format("regsh.task.run %s (%s, %d step%s%s)", tostring(self.id), self.status,
    #self.steps, #self.steps == 1 and "" or "s",
    self.elapsed and string.format(", %.1f s", self.elapsed) or "")
end

function M.run(task, opts)
  opts = opts or {}
  if opts.dry_run then return M.plan(task, opts) end
  local st, owned_store_or_err, code = store_of(opts)
  if not st then return nil, owned_store_or_err, code end
  local name = opts.task_name or (task.model and task.model.name)
  local run = {
    status = "Queued", registry = opts.registry, values = opts.values or {},
    secrets = opts.secrets or {}, steps = {}, records = {}, procs = {}, detached = {},
    exit_codes = {}, store = st, t0 = now(), task_name = name, grace = opts.grace,
  }
  setmetatable(run, Run)
  make_output(run, opts)
  local timeout = opts.timeout or M.DEFAULT_TIMEOUT
  local ex, ex_err = executor_of(opts)
  local id, err
  id, err, code = runs.begin(st, {task = name, registry = opts.registry, executor = ex and ex.kind,
                            trigger = opts.trigger, timer = opts.timer,
                            occurrence = opts.occurrence})
  if not id then
    if owned_store_or_err then st:close() end
    return nil, err, code
  end
  run.id, run.executor = id, ex
  run.labels = {["regsh.run"] = id, ["regsh.task"] = name or ""}
  run.stopping = nil
  function run.stop(status, why)
    if run.stopping then return end
    run.stopping, run.error = status, why
    if run.cancel_steps then run.cancel_steps() end
  end
  -- the caller (regsh serve) may stop the run with run.stop; it watches signals itself
  if opts.on_start then opts.on_start(run) end
  local unwatch = opts.signals == false and function() end or watch_signals(run)
  runs.started(st, id)
  run.status = "Running"
  local flusher = async.spawn(function()
    while true do
      async.sleep(1)
      run.flush()
    end
  end)
  local timer = async.spawn(function()
    async.sleep(timeout)
    run.log("The run exceeded its timeout of %d seconds", timeout)
    run.stop("Timeout", string.format("run timed out after %d seconds", timeout))
  end)

  local ok, perr = pcall(function()
    local fail = function(status, message)
      run.stopping, run.error = run.stopping or status, run.error or message
    end
    if not ex then return fail("Error", ex_err) end
    local ws, ws_err = fs.temp_dir("regsh-run")
    if not ws then return fail("Error", ws_err) end
    run.workspace = ws
    local ok_ctx, err_ctx = materialize(run, opts.context, opts)
    if not ok_ctx then return fail("Error", err_ctx) end
    run.info = M.run_info{id = id, registry = opts.registry, workspace = run.workspace,
      task_name = name, commit = run.commit, branch = run.branch}
    local model, err_model = model_of(run, task)
    if not model then return fail("Failed", "failed to unmarshal task before running: "
      .. require("regsh.errors").detail(err_model)) end
    run.model, run.task = model, model
    for _, s in ipairs(model.steps) do
      local rec = {id = s.id, index = s.index, status = "skipped", attempts = 0}
      run.steps[#run.steps + 1], run.records[s.id] = rec, rec
    end
    st:transaction(function() for _, rec in ipairs(run.steps) do save_step(run, rec) end end)
    local ok_check, err_check = ex:check(model)
    if not ok_check then return fail("Error", err_check) end
    run.prepared = false
    local ok_prep, err_prep = ex:prepare(run)
    if not ok_prep then return fail("Error", err_prep) end
    run.prepared = true
    if ex.start_reaper then run.reaper = ex:start_reaper(run) end
    if not run.stopping then schedule(run) end
  end)
  timer:cancel()
  if not ok and perr == cancelled then
    run.stopping, run.error = run.stopping or "Canceled", run.error or "the run was canceled"
  elseif not ok then
    run.stopping, run.error = "Error", "internal error: " .. tostring(perr)
  end
  run.status = run.stopping or "Succeeded"
  cleanup(run)
  unwatch()
  flusher:cancel()
  finish(run)
  if owned_store_or_err then st:close() end
  run.store = nil
  return run
end

return M
