-- regsh.schedule.daemon: the scheduler `regsh serve` runs. It keeps one
-- entry per enabled timer (the store's, regsh.schedule.add's), sleeps until
-- the earliest fire, and starts each fire as a task under a semaphore. The
-- bookkeeping is regsh.schedule.timers (pure); the time regsh.schedule.clock;
-- what it counts regsh.metrics (the names are fixed: docs/reference/schedule.md).
local async = require "regsh.async"
local json = require "regsh.json"
local metrics = require "regsh.metrics"
local runs = require "regsh.task.runs"
local timers = require "regsh.schedule.timers"

local M = {}

-- The longest sleep, in daemon seconds. Sleeps run on the monotonic clock
-- and fire times are wall-clock times, so waking once a minute to read the
-- wall clock again is what notices a stepped system clock; the same wake
-- reads the store's version (one `PRAGMA data_version`), the backstop for a
-- change made by something that is not regsh. regsh's own writers of task
-- definitions (regsh.schedule.tasks) send SIGHUP (M.notify), which reloads
-- at once.
M.WAKE = 60

local cancelled = async.cancelled

local Daemon = {}
Daemon.__index = Daemon

local function process_start(pid)
  return require("regsh.task.exec_container").start_time(pid)
end

local function self_pid()
  return require("regsh.task.exec_container").self_pid()
end

local function iso(t)
  return require("regsh.time").format_rfc3339(t)
end

--- lock(st) -> lock id | nil, "EBUSY: ...", "EBUSY": one daemon per store.
--- The lock is a `runs` row of kind "serve" with the daemon's pid and start
--- time; a row whose process is gone (kill -9) is marked "died" and taken over.
function M.lock(st)
  local me = self_pid()
  return st:transaction(function()
    local rows, err, code = st.db:rows(
      "SELECT id, info FROM runs WHERE kind = 'serve' AND status = 'running'")
    if not rows then return nil, err, code end
    for _, row in ipairs(rows) do
      local info = json.decode(row.info) or {}
      if info.pid and info.pid ~= me and info.start and process_start(info.pid) == info.start then
        return nil, string.format("EBUSY: %s: another regsh serve (pid %d) is scheduling this "
          .. "store; stop it first or give another --state", st.path, info.pid), "EBUSY"
      end
      st:run_end(row.id, "died", {})
    end
    return st:run_begin("serve", {pid = me, start = process_start(me)})
  end)
end

--- notify(st): tell the regsh serve scheduling this store, if one is, that
--- task definitions changed: SIGHUP, on which it reloads at once. The pid is
--- checked against its recorded start time (pids are reused).
function M.notify(st)
  local rows = st.db:rows(
    "SELECT info FROM runs WHERE kind = 'serve' AND status = 'running'")
  for _, row in ipairs(rows or {}) do
    local info = json.decode(row.info) or {}
    if info.pid and info.pid ~= self_pid() and info.start
      and process_start(info.pid) == info.start then
      require("regsh.proc").signal(info.pid, "SIGHUP")
    end
  end
end

--- unlock(st, id): the daemon ended.
function M.unlock(st, id)
  return st:run_end(id, "stopped", {})
end

--- recover(st) -> array of the runs marked Error: regsh gc at the start
--- (regsh.task.gc): runs whose regsh died end as Error, and the objects
--- of runs not alive are removed, each logged.
function M.recover(st)
  local report = require("regsh.task.gc").collect(st)
  local log = require("regsh.log").logger("serve")
  for _, obj in ipairs(report.objects) do
    log("info", "removed a dead run's " .. obj.kind, {name = obj.name, run = obj.run})
  end
  for _, e in ipairs(report.errors) do log("warn", "gc: " .. e) end
  return report.runs
end

-- The daemon's metrics (regsh.metrics), declared at start so that a scrape
-- lists them before anything is counted.
M.METRICS = {
  {"regsh_runs_started_total", "counter", "Runs the scheduler started, by task and trigger."},
  {"regsh_catchup_runs_total", "counter",
   "Occurrences run as catch-up after a downtime or a late wakeup, by task and timer."},
  {"regsh_deadline_exceeded_total", "counter",
   "Occurrences skipped because they were past the timer's starting deadline."},
  {"regsh_skipped_runs_total", "counter",
   "Skipped run records the scheduler wrote, by task and reason (missed, overlap, mutex, "
   .. "deadline, stopped)."},
  {"regsh_timer_next_fire_timestamp_seconds", "gauge",
   "The next fire time of each timer (epoch seconds; 0 when it never fires again)."},
  {"regsh_run_duration_seconds", "histogram",
   "How long the runs the scheduler started took, by task and final status.",
   metrics.DURATION_BUCKETS},
}

--- new{store =, clock =, concurrency = 4, grace = 30, schedules = {...}} -> daemon.
--- schedules: regsh.schedule.list()'s entries (the script's).
function M.new(opts)
  for _, m in ipairs(M.METRICS) do metrics.describe(m[1], m[2], m[3], m[4]) end
  return setmetatable({
    st = opts.store, clock = opts.clock or require("regsh.schedule.clock").real(),
    grace = opts.grace or 30, concurrency = opts.concurrency or 4,
    sem = async.semaphore(opts.concurrency or 4),
    schedules = opts.schedules or {}, entries = {}, active = {}, fires = {},
    locks = {}, groups = {},
    log = require("regsh.log").logger("serve"),
  }, Daemon)
end

-- Whether the occurrence already has a run record (one run per occurrence).
function Daemon:has_record(entry, t)
  return runs.occurrence_run(self.st, entry.task, entry.timer, t) ~= nil
end

-- The script's schedules have no timers row: their last handled
-- occurrence is the latest one recorded.
function Daemon:last_recorded(task, timer)
  local row = self.st.db:first([[
SELECT max(occurrence) AS t FROM task_runs WHERE trigger = 'Timer' AND task = ? AND timer = ?]],
    task, timer)
  return row and row.t
end

-- The policies of a timer that a reload may change in place.
local POLICY_FIELDS = {"concurrency", "mutex", "catch_up", "catch_up_max", "starting_deadline"}

-- Every timer to schedule: {key, kind, task, timer, signature, parse(),
-- last_fire, run, and the POLICY_FIELDS}.
function Daemon:specs()
  local cron = require "regsh.schedule.cron"
  local list = {}
  for _, t in ipairs(require("regsh.schedule.tasks").enabled_timers(self.st)) do
    list[#list + 1] = {
      key = t.task .. "/" .. t.timer, kind = "store", task = t.task, timer = t.timer,
      signature = table.concat({t.schedule, t.dialect, t.tz}, "\0"), last_fire = t.last_fire,
      parse = function() return cron.parse(t.schedule, {dialect = t.dialect, tz = t.tz}) end,
    }
    for _, k in ipairs(POLICY_FIELDS) do list[#list][k] = t[k] end
  end
  for _, s in ipairs(self.schedules) do
    list[#list + 1] = {
      key = s.name .. "/" .. s.timer, kind = "lua", task = s.name, timer = s.timer,
      signature = s, last_fire = self:last_recorded(s.name, s.timer),
      run = s.run, executor = s.executor, parse = function() return s.cron end,
    }
    for _, k in ipairs(POLICY_FIELDS) do list[#list][k] = s[k] end
  end
  for _, spec in ipairs(list) do
    spec.concurrency, spec.catch_up = spec.concurrency or "allow", spec.catch_up or "none"
    spec.catch_up_max = spec.catch_up_max or 10
  end
  return list
end

function Daemon:entry_of(spec)
  local c, err = spec.parse()
  if not c then
    self.log("error", "timer not scheduled", {task = spec.task, timer = spec.timer, error = err})
    return nil
  end
  spec.cron = c
  return spec
end

-- The handled mark of a store timer (durable); the script's need none.
function Daemon:handled(entry, t)
  if entry.kind ~= "store" or (entry.last_fire and entry.last_fire >= t) then return end
  entry.last_fire = t
  local ok, err = require("regsh.schedule.tasks").set_last_fire(self.st, entry.task, entry.timer, t)
  if not ok then self.log("error", "cannot record the last fire", {task = entry.task, error = err}) end
end

-- A run the daemon decided not to start (status Skipped) or could not
-- (Error): recorded like a run, so that nothing is dropped silently.
function Daemon:record(entry, t, status, text)
  local info = {task = entry.task, trigger = "Timer", timer = entry.timer, occurrence = t,
    reason = text}
  local id, err
  if status == "Skipped" then
    id, err = runs.skip(self.st, info)
  else
    id, err = self.st:transaction(function()
      local rid, berr, code = runs.begin(self.st, info)
      if not rid then return nil, berr, code end
      local ok, ferr, fcode = runs.finish(self.st, rid, status, text)
      if not ok then return nil, ferr, fcode end
      return rid
    end)
  end
  if status == "Skipped" and id then
    metrics.inc("regsh_skipped_runs_total", {task = entry.task, reason = text:match("^(%a+):")})
  end
  self.log(status == "Skipped" and "info" or "error", status == "Skipped" and "skip" or "fail",
    {task = entry.task, timer = entry.timer, occurrence = iso(t), run = id, reason = text,
     error = not id and err or nil})
  self:handled(entry, t)
end

-- What runs at a fire: the stored task through regsh.schedule.definition,
-- a script's task, or a script's function as a one-step Lua task.
function Daemon:task_of(entry, opts)
  if entry.kind == "store" then
    local task, def_opts, code = require("regsh.schedule.definition").load(self.st, entry.task)
    if not task then return nil, def_opts, code end
    for k, v in pairs(def_opts or {}) do
      if opts[k] == nil then opts[k] = v end
    end
    return task
  end
  local taskmod = require "regsh.task"
  opts.executor = entry.executor or "local"
  if getmetatable(entry.run) == taskmod.Task then return entry.run end
  local fn, occurrence = entry.run, opts.occurrence
  return taskmod.new{}:step{id = "main", fn = function(ctx)
    ctx.occurrence, ctx.schedule = occurrence, entry.task
    return fn(ctx)
  end}
end

-- One fire, holding a slot: the run, then its finish logged and handled.
function Daemon:execute(fire)
  local entry, t = fire.entry, fire.occurrence
  fire.executing = true
  local deadline = entry.starting_deadline
  if deadline and self.clock.now() - t > deadline then  -- it waited too long, or fires late
    metrics.inc("regsh_deadline_exceeded_total", {task = entry.task, timer = entry.timer})
    return self:record(entry, t, "Skipped", timers.deadline_text({count = 1, first = t,
      latest = t}, deadline))
  end
  local opts = {trigger = "Timer", timer = entry.timer, occurrence = t, store = self.st,
    task_name = entry.task, on_output = false, signals = false}
  function opts.on_start(run)
    fire.run = run
    metrics.inc("regsh_runs_started_total", {task = entry.task, trigger = "Timer"})
    if fire.catch_up then
      metrics.inc("regsh_catchup_runs_total", {task = entry.task, timer = entry.timer})
    end
    self.log("info", "fire", {task = entry.task, timer = entry.timer, occurrence = iso(t),
      run = run.id})
    if fire.stop_request then run.stop(table.unpack(fire.stop_request)) end
  end
  local task, err = self:task_of(entry, opts)
  if not task then return self:record(entry, t, "Error", tostring(err)) end
  local t0 = async.monotonic()
  local run, rerr = task:run(opts)
  if type(opts.context) == "table" and opts.context.close then opts.context:close() end
  if not run then
    if self:has_record(entry, t) then  -- another daemon, or a restart, got there first
      self.log("info", "already run", {task = entry.task, timer = entry.timer, occurrence = iso(t)})
      return self:handled(entry, t)
    end
    return self:record(entry, t, "Error", tostring(rerr))
  end
  metrics.observe("regsh_run_duration_seconds", {task = entry.task, status = run.status},
    async.monotonic() - t0)
  self.log(run.status == "Succeeded" and "info" or "warn", "finish", {task = entry.task,
    timer = entry.timer, occurrence = iso(t), run = run.id, status = run.status,
    seconds = string.format("%.3f", async.monotonic() - t0), error = run.error})
  self:handled(entry, t)
end

local function count(set)
  local n = 0
  for _ in pairs(set) do n = n + 1 end
  return n
end

-- Stop a fire: its run, when it has one, ends with status; a fire still
-- waiting for a slot is just cancelled (no record: it had not started).
function Daemon:stop_fire(fire, status, why)
  if fire.run then
    fire.run.stop(status, why)
  else
    fire.stop_request = {status, why}
    fire.task:cancel()
  end
end

-- How a fire names another one in a skip's text.
local function who(fire)
  if fire.run then return "run " .. fire.run.id .. " of task " .. fire.entry.task end
  return string.format("the run of task %s for %s", fire.entry.task, iso(fire.occurrence))
end

-- The fires of the entry's timer that wait (not yet executing).
function Daemon:waiting(entry)
  local n = 0
  for f in pairs(self.fires) do
    if f.entry.key == entry.key and not f.executing then n = n + 1 end
  end
  return n
end

-- A fire of the mutex group going or waiting (the oldest), or nil.
function Daemon:group_holder(name)
  local best
  for f in pairs(self.groups[name] or {}) do
    if not best or f.seq < best.seq then best = f end
  end
  return best
end

-- One holder at a time per key ("task:NAME" under queue, "mutex:NAME"):
-- a semaphore of 1, waiters served in order.
function Daemon:semaphore_of(key)
  self.locks[key] = self.locks[key] or async.semaphore(1)
  return self.locks[key]
end

-- What stands between a fire and its start, as the semaphores it takes in
-- this order (the same order for every fire: no deadlock).
function Daemon:lanes(entry)
  local lanes = {}
  if entry.concurrency == "queue" then
    lanes[#lanes + 1] = self:semaphore_of("task:" .. entry.task)
  end
  if entry.mutex then lanes[#lanes + 1] = self:semaphore_of("mutex:" .. entry.mutex) end
  lanes[#lanes + 1] = self.sem
  return lanes
end

-- Run fn holding lanes[i..] in turn.
local function holding(lanes, i, fn)
  if i > #lanes then return fn() end
  return lanes[i]:run(holding, lanes, i + 1, fn)
end

--- d:fire(entry, t [, catch_up]) -> the fire | nil: the occurrence t of the
--- entry's timer, as the task's concurrency policy says: started, skipped
--- (forbid; queue with one waiting already), started after the running ones
--- were canceled (replace), or waiting for them (queue). A fire whose mutex
--- group is busy is skipped under forbid and waits otherwise (at most one
--- waiting per timer).
function Daemon:fire(entry, t, catch_up)
  local active = self.active[entry.task] or {}
  self.active[entry.task] = active
  local waiting = self:waiting(entry)
  local decision = timers.decide(entry.concurrency, count(active), waiting)
  if decision == "skip" then
    local other = next(active)
    if entry.concurrency == "queue" then
      return self:record(entry, t, "Skipped", string.format("overlap: the run of %s already "
        .. "waits (concurrency queue: at most one waiting per timer)",
        iso(self:waiting_occurrence(entry))))
    end
    return self:record(entry, t, "Skipped", other.run
      and string.format("overlap: run %s is still running (concurrency forbid)", other.run.id)
      or string.format("overlap: the run of %s is still waiting for a slot (concurrency forbid)",
        iso(other.occurrence)))
  end
  if decision == "replace" then
    for f in pairs(active) do
      self:stop_fire(f, "Canceled", "replaced by the run of " .. iso(t) .. " (concurrency replace)")
    end
  end
  -- replace canceled its own task's fires (also any waiting one): it
  -- waits for them, or another task's run, to leave the group
  local holder = entry.mutex and self:group_holder(entry.mutex)
  if holder and decision ~= "replace" then
    if entry.concurrency == "forbid" then
      return self:record(entry, t, "Skipped", string.format("mutex: %s holds the mutex group %s "
        .. "(concurrency forbid)", who(holder), entry.mutex))
    end
    if waiting >= 1 then
      return self:record(entry, t, "Skipped", string.format("mutex: %s holds the mutex group %s "
        .. "and the run of %s already waits for it (at most one waiting per timer)", who(holder),
        entry.mutex, iso(self:waiting_occurrence(entry))))
    end
  end
  self.seq = (self.seq or 0) + 1
  local fire = {entry = entry, occurrence = t, catch_up = catch_up, seq = self.seq}
  local running = next(active)
  active[fire], self.fires[fire] = true, true
  if entry.mutex then
    self.groups[entry.mutex] = self.groups[entry.mutex] or {}
    self.groups[entry.mutex][fire] = true
  end
  if decision == "queue" or holder then
    fire.blocked = decision == "queue" and "the task's running run ended"
      or "the mutex group " .. entry.mutex .. " was free"
    self.log("info", "waits", {task = entry.task, timer = entry.timer, occurrence = iso(t),
      reason = decision == "queue" and "concurrency queue: " .. who(running) .. " is running"
        or "mutex group " .. entry.mutex .. ": " .. who(holder)})
  elseif self.sem.free == 0 then
    self.log("info", "queued", {task = entry.task, timer = entry.timer, occurrence = iso(t),
      reason = "all " .. self.concurrency .. " slots are taken"})
  end
  local lanes = self:lanes(entry)
  fire.task = async.spawn(function()
    local ok, err = pcall(holding, lanes, 1, function()
      if not self.stopping then self:execute(fire) end
    end)
    active[fire], self.fires[fire] = nil, nil
    if entry.mutex then self.groups[entry.mutex][fire] = nil end
    if not ok and err ~= cancelled then
      self.log("error", "fire failed", {task = entry.task, error = tostring(err)})
    end
  end)
  return fire
end

-- The occurrence of the entry's fire that waits (for a skip's text).
function Daemon:waiting_occurrence(entry)
  for f in pairs(self.fires) do
    if f.entry.key == entry.key and not f.executing then return f.occurrence end
  end
end

-- Fire the occurrences in order; several (a catch-up) one after another,
-- each when the one before has ended. The latest is a catch-up unless
-- fire_latest (the timer's own fire).
function Daemon:fire_each(entry, list, fire_latest)
  local function catch_up(i) return not (fire_latest and i == #list) end
  if #list == 1 then return self:fire(entry, list[1], catch_up(1)) end
  if #list == 0 then return end
  async.spawn(function()
    for i, t in ipairs(list) do
      if self.stopping then return end
      local f = self:fire(entry, t, catch_up(i))
      if f then pcall(f.task.wait, f.task) end
    end
  end)
end

-- The due occurrences of the entry in (after, now] as its catch-up policy
-- and starting deadline say: missed ones and ones past the deadline
-- recorded Skipped, the others fired. fire_latest: the daemon's own fire
-- (the latest always runs, deadline permitting); else a catch-up at start.
function Daemon:settle(entry, after, now, fire_latest)
  local due = timers.due(entry.cron, after, now, function(t)
    return self:has_record(entry, t)
  end, entry.catch_up_max + 1)
  if due.count == 0 then return end
  local plan = timers.plan(due, {catch_up = entry.catch_up, max = entry.catch_up_max,
    deadline = entry.starting_deadline, now = now, fire_latest = fire_latest})
  if plan.missed then
    local policy = entry.catch_up
    if policy == "all" then policy = policy .. ", at most " .. entry.catch_up_max end
    self:record(entry, plan.missed.latest, "Skipped", timers.missed_text(plan.missed, policy,
      fire_latest and "while the daemon was late" or nil))
  end
  if plan.deadline then
    metrics.inc("regsh_deadline_exceeded_total", {task = entry.task, timer = entry.timer},
      plan.deadline.count)
    self:record(entry, plan.deadline.latest, "Skipped", timers.deadline_text(plan.deadline,
      entry.starting_deadline))
  end
  if #plan.run > (fire_latest and 1 or 0) then
    self.log("info", "catch-up", {task = entry.task, timer = entry.timer, policy = entry.catch_up,
      runs = #plan.run, occurrence = iso(plan.run[1])})
  end
  self:fire_each(entry, plan.run, fire_latest and plan.run[#plan.run] == due.latest)
end

-- The occurrences missed before the daemon started (a downtime).
function Daemon:catch_up(entry, now)
  if entry.last_fire then self:settle(entry, entry.last_fire, now, false) end
end

-- The entry's next fire after now, and its gauge -> nil, or why it never
-- fires (the cron's message) when there is none.
function Daemon:set_next(entry, now)
  local never
  entry.last, entry.next, never = now, entry.cron:next(now)
  metrics.set("regsh_timer_next_fire_timestamp_seconds", {task = entry.task, timer = entry.timer},
    entry.next or 0)
  return never
end

-- The entry's due occurrences: the latest fires; earlier ones (the daemon
-- woke late: a suspended machine) follow the catch-up policy.
function Daemon:tick(entry, now)
  local after = entry.last
  self:set_next(entry, now)
  self:settle(entry, after, now, true)
end

--- d:reload(reason): the timers again; unchanged ones keep their place.
function Daemon:reload(reason)
  local now, seen = self.clock.now(), {}
  for _, spec in ipairs(self:specs()) do
    seen[spec.key] = true
    local e = self.entries[spec.key]
    if e and e.signature == spec.signature then
      for _, k in ipairs(POLICY_FIELDS) do e[k] = spec[k] end
    else
      e = self:entry_of(spec)
      if e then
        if reason == "start" then self:catch_up(e, now) end
        local never = self:set_next(e, now)
        -- said once per timer (the log also counts repeats under this key)
        if not e.next then
          self.log("warn", "timer never fires", {task = e.task, timer = e.timer, error = never},
            "never fires " .. spec.key)
        end
        self.entries[spec.key] = e
      end
    end
  end
  for key, e in pairs(self.entries) do
    if not seen[key] then
      self.entries[key] = nil
      metrics.set("regsh_timer_next_fire_timestamp_seconds", {task = e.task, timer = e.timer}, 0)
    end
  end
  self.version = require("regsh.schedule.tasks").version(self.st)
  self.log("info", "timers loaded", {timers = count(self.entries), reason = reason})
end

-- Wake the main loop from its sleep (a signal, a stop).
function Daemon:wake()
  if self.sleeping then self.main:cancel() end
end

function Daemon:loop()
  while not self.stopping do
    if self.reload_requested
      or self.version ~= require("regsh.schedule.tasks").version(self.st) then
      local reason = self.reload_requested or "store changed"
      self.reload_requested = nil
      self:reload(reason)
    end
    local now = self.clock.now()
    local due = {}
    for _, e in pairs(self.entries) do
      if e.next and e.next <= now then due[#due + 1] = e end
    end
    table.sort(due, function(a, b) return a.next < b.next or (a.next == b.next and a.key < b.key) end)
    for _, e in ipairs(due) do self:tick(e, now) end
    local first = timers.earliest(self.entries)
    local wait = M.WAKE
    if first then wait = math.min(wait, first.next - self.clock.now()) end
    if wait > 0 and not self.stopping and not self.reload_requested then
      self.sleeping = true
      local ok, err = pcall(self.clock.sleep, wait)
      self.sleeping = false
      if not ok and err ~= cancelled then error(err, 0) end
    end
  end
end

--- d:stop(signal): stop firing; runs going get the grace period. A second
--- stop cancels them at once.
function Daemon:stop(signal)
  if self.stopping then
    self.log("warn", "second " .. signal .. ": canceling the runs now")
    return self:cancel_all("the daemon was stopped (" .. signal .. ")")
  end
  self.stopping = signal
  self.log("info", "stopping", {signal = signal, running = count(self.fires), grace = self.grace})
  self:wake()
end

function Daemon:cancel_all(why)
  for fire in pairs(self.fires) do self:stop_fire(fire, "Canceled", why) end
end

-- After the loop: fires still waiting for a slot are not started but
-- recorded Skipped; runs get the grace period.
function Daemon:drain()
  local list = {}
  for fire in pairs(self.fires) do
    if fire.executing then
      list[#list + 1] = fire.task
    else
      fire.task:cancel()
      self:record(fire.entry, fire.occurrence, "Skipped", string.format(
        "stopped: the daemon stopped (%s) before %s", self.stopping,
        fire.blocked or "a slot was free"))
    end
  end
  if #list == 0 then return end
  local timer = async.spawn(function()
    async.sleep(self.grace)
    self:cancel_all(string.format("the daemon was stopped (%s) and its grace period of %gs ended",
      self.stopping, self.grace))
  end)
  for _, t in ipairs(list) do pcall(t.wait, t) end
  timer:cancel()
end

--- d:run() -> the signal that stopped it: recovers dead runs, catches up
--- missed occurrences, then fires timers until SIGTERM or SIGINT.
function Daemon:run()
  local watchers = {}
  for _, sig in ipairs{"SIGINT", "SIGTERM"} do
    watchers[#watchers + 1] = async.on_signal(sig, function(name) self:stop(name) end)
  end
  watchers[#watchers + 1] = async.on_signal("SIGHUP", function()
    self.reload_requested = "SIGHUP"
    self:wake()
  end)
  self.main = async.spawn(function()
    for _, run in ipairs(M.recover(self.st)) do
      self.log("warn", "orphaned run marked Error", {run = run.id, task = run.task,
        reason = run.error})
    end
    self:reload("start")
    self:loop()
    self:drain()
  end)
  local ok, err = pcall(self.main.wait, self.main)
  for _, w in ipairs(watchers) do w.close() end
  if not ok then error(err, 0) end
  return self.stopping
end

return M
