-- `regsh serve` killed with SIGKILL while its timers fire (issue 12), then
-- started again later: no occurrence gets a second run, none is lost (each
-- minute has a record of its own, or lies in the range of a "missed" record),
-- no record of the killed daemon disappears, and none stays Queued or
-- Running. The clock is the test clock (REGSH_SERVE_CLOCK, 60x: one
-- occurrence per task a second); waits are for conditions, bounded.
local cmd = require "support.cmd"
local faults = require "support.faults"
local time = require "regsh.time"

local function utc(s) return assert(time.parse_rfc3339(s)) end

local START = utc("2026-01-01T09:59:50Z")
local TASKS = {"fast", "slow", "forbid"}

describe("regsh serve killed with -9 in a tick", function()
  local dir, state

  before_each(function()
    dir = assert(regsh.fs.temp_dir("regsh-fault-serve"))
    state = dir .. "/state"
  end)
  after_each(function() regsh.fs.remove_tree(dir) end)

  local function store() return assert(regsh.store.open(state .. "/state.db")) end

  local function all_runs()
    local st = store()
    local rows = assert(st.db:rows([[SELECT id, task, trigger, occurrence, status, error
FROM task_runs ORDER BY seq]]))
    st:close()
    return rows
  end

  local function serve(start)
    local argv = {cmd.bin, "serve", "--state", state, "--concurrency", "8",
      stdout = "capture", stderr = "capture", env_merge = true,
      env = {REGSH_SERVE_CLOCK = string.format("%d:60", start)}}
    return assert(regsh.proc.spawn(argv))
  end

  -- every minute from 10:00 to the latest occurrence recorded, per task:
  -- recorded, or inside a "missed" record's range
  local function uncovered(rows)
    local seen, latest = {}, {}
    for _, r in ipairs(rows) do
      seen[r.task] = seen[r.task] or {}
      seen[r.task][r.occurrence] = true
      latest[r.task] = math.max(latest[r.task] or 0, r.occurrence)
      local from, to = (r.error or ""):match("^missed: %d+ occurrences from (%S+) to (%S+) ")
      if not from then
        from = (r.error or ""):match("^missed: 1 occurrence %((%S+)%)")
        to = from
      end
      if from then
        for t = utc(from), utc(to), 60 do seen[r.task][t] = true end
      end
    end
    local out = {}
    for _, name in ipairs(TASKS) do
      for t = utc("2026-01-01T10:00:00Z"), latest[name] or 0, 60 do
        if not seen[name][t] then out[#out + 1] = name .. "@" .. time.format_rfc3339(t) end
      end
    end
    return out
  end

  it("restarts with no duplicate run and no occurrence lost", function()
    local out = dir .. "/out"
    local st = store()
    local tasks = require "regsh.schedule.tasks"
    for _, t in ipairs({
        {name = "fast", definition = "echo fast >> " .. cmd.quote(out)},
        {name = "slow", definition = "sleep 0.7; echo slow >> " .. cmd.quote(out)},
        {name = "forbid", concurrency = "forbid", definition = "sleep 1.5"}}) do
      t.kind, t.context, t.executor = "cmd", "/dev/null", "local"
      t.timers, t.missed = {{schedule = "* * * * *"}}, "skip"
      assert(tasks.create(st, t))
    end
    st:close()
    local p = serve(START)
    faults.wait_for("eight runs", function() return #all_runs() >= 8 end)
    assert(p:kill("SIGKILL"))
    p:wait()
    p:close()
    local before = all_runs()
    local latest = 0
    for _, r in ipairs(before) do latest = math.max(latest, r.occurrence) end

    -- five daemon minutes after the last occurrence it saw, a new daemon
    local restart = latest + 300
    local p2 <close> = serve(restart)
    faults.wait_for("a fire of every task after the restart", function()
      local fired = {}
      for _, r in ipairs(all_runs()) do
        if r.occurrence > restart then fired[r.task] = true end
      end
      return fired.fast and fired.slow and fired.forbid
    end)
    assert(p2:kill("SIGTERM"))
    local r = p2:wait()
    assert.equal(0, r.code, r.stderr)

    local after = all_runs()
    local by_id, once = {}, {}
    for _, run in ipairs(after) do
      by_id[run.id] = run
      local k = run.task .. "@" .. run.occurrence
      assert.is_nil(once[k], "two records for " .. k)
      once[k] = true
      assert.is_true(run.status ~= "Queued" and run.status ~= "Running",
        run.id .. " is still " .. run.status)
    end
    for _, run in ipairs(before) do assert.is_not_nil(by_id[run.id], run.id .. " was lost") end
    assert.same({}, uncovered(after))
    -- the downtime is one missed record per task, from the first minute not handled
    for _, name in ipairs(TASKS) do
      local missed = 0
      for _, run in ipairs(after) do
        if run.task == name and (run.error or ""):find("while no daemon ran", 1, true) then
          missed = missed + 1
        end
      end
      assert.equal(1, missed, name)
    end
  end)
end)
