-- regsh.schedule.daemon: the scheduler `regsh serve` runs. It keeps one
-- entry per enabled timer (the store's, regsh.schedule.add's), sleeps until
-- the earliest fire, and starts each fire as a task under a semaphore. The
-- bookkeeping is regsh.schedule.timers (pure); the time regsh.schedule.clock.
local async = require "regsh.async"
local json = require "regsh.json"
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

-- Whether pid is a live regsh other than this one (a pid reused by some
-- other program does not keep a run alive).
local function live_regsh(pid, me)
  if not pid or pid == me or not process_start(pid) then return false end
  local f = io.open("/proc/" .. pid .. "/comm")
  if not f then return false end
  local name = f:read("l") or ""
  f:close()
  return name:find("regsh", 1, true) ~= nil
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

-- A dead run's containers, networks and volumes (labelled regsh.run=ID).
local function cleanup_containers(run)
  if run.executor ~= "podman" and run.executor ~= "docker" then return end
  local ok, ex = pcall(require("regsh.task.exec_container").new, {engine = run.executor})
  if ok and ex then pcall(ex.cleanup_key, ex, run.id, nil, "regsh.run") end
end

--- recover(st) -> array of the runs marked Error: runs Queued or Running
--- whose process is no live regsh (a daemon or `regsh run` killed with -9)
--- end as Error, their steps in progress failed, their containers removed.
function M.recover(st)
  local me = self_pid()
  local rows = assert(st.db:rows([[
SELECT id, task, trigger, pid, executor FROM task_runs WHERE status IN ('Queued', 'Running')]]))
  local out = {}
  for _, run in ipairs(rows) do
    if not live_regsh(run.pid, me) then
      run.error = string.format("the %s running it died (pid %s)",
        run.trigger == "Timer" and "daemon" or "regsh", tostring(run.pid))
      assert(st:transaction(function()
        local ok, err, code = runs.finish(st, run.id, "Error", run.error)
        if not ok then return nil, err, code end
        return st.db:exec([[
UPDATE task_steps SET status = 'failed', error = ? WHERE run_id = ? AND status = 'inprogress']],
          run.error, run.id)
      end))
      cleanup_containers(run)
      out[#out + 1] = run
    end
  end
  return out
end

--- new{store =, clock =, concurrency = 4, grace = 30, schedules = {...}} -> daemon.
--- schedules: regsh.schedule.list()'s entries (the script's).
function M.new(opts)
  return setmetatable({
    st = opts.store, clock = opts.clock or require("regsh.schedule.clock").real(),
    grace = opts.grace or 30, concurrency = opts.concurrency or 4,
    sem = async.semaphore(opts.concurrency or 4),
    schedules = opts.schedules or {}, entries = {}, active = {}, fires = {},
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

-- Every timer to schedule: {key, kind, task, timer, signature, parse(),
-- last_fire, concurrency, missed, run}.
function Daemon:specs()
  local cron = require "regsh.schedule.cron"
  local list = {}
  for _, t in ipairs(require("regsh.schedule.tasks").enabled_timers(self.st)) do
    list[#list + 1] = {
      key = t.task .. "/" .. t.timer, kind = "store", task = t.task, timer = t.timer,
      signature = table.concat({t.schedule, t.dialect, t.tz}, "\0"), last_fire = t.last_fire,
      concurrency = t.concurrency or "allow", missed = t.missed or "skip",
      parse = function() return cron.parse(t.schedule, {dialect = t.dialect, tz = t.tz}) end,
    }
  end
  for _, s in ipairs(self.schedules) do
    list[#list + 1] = {
      key = s.name .. "/" .. s.timer, kind = "lua", task = s.name, timer = s.timer,
      signature = s, last_fire = self:last_recorded(s.name, s.timer),
      concurrency = s.concurrency, missed = s.missed, run = s.run, executor = s.executor,
      parse = function() return s.cron end,
    }
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
  local opts = {trigger = "Timer", timer = entry.timer, occurrence = t, store = self.st,
    task_name = entry.task, on_output = false, signals = false}
  function opts.on_start(run)
    fire.run = run
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

--- d:fire(entry, t): the occurrence t of the entry's timer, as the task's
--- concurrency policy says: started, skipped (forbid), or started after the
--- running ones were canceled (replace).
function Daemon:fire(entry, t)
  local active = self.active[entry.task] or {}
  self.active[entry.task] = active
  local decision = timers.decide(entry.concurrency, count(active))
  if decision == "skip" then
    local other = next(active)
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
  local fire = {entry = entry, occurrence = t}
  active[fire], self.fires[fire] = true, true
  if self.sem.free == 0 then
    self.log("info", "queued", {task = entry.task, timer = entry.timer, occurrence = iso(t),
      reason = "all " .. self.concurrency .. " slots are taken"})
  end
  fire.task = async.spawn(function()
    local ok, err = pcall(self.sem.run, self.sem, function()
      if not self.stopping then self:execute(fire) end
    end)
    active[fire], self.fires[fire] = nil, nil
    if not ok and err ~= cancelled then
      self.log("error", "fire failed", {task = entry.task, error = tostring(err)})
    end
  end)
end

-- The occurrences missed before the daemon started (a downtime).
function Daemon:catch_up(entry, now)
  if not entry.last_fire then return end
  local due = timers.due(entry.cron, entry.last_fire, now, function(t)
    return self:has_record(entry, t)
  end)
  if due.count == 0 then return end
  if entry.missed == "run-once" then
    self.log("info", "missed", {task = entry.task, timer = entry.timer, count = due.count,
      policy = "run-once", occurrence = iso(due.latest)})
    return self:fire(entry, due.latest)
  end
  self:record(entry, due.latest, "Skipped", timers.missed_text(due))
end

-- The entry's due occurrences: the latest fires; earlier ones (the daemon
-- woke late: a suspended machine) follow the missed policy.
function Daemon:tick(entry, now)
  local due = timers.due(entry.cron, entry.last, now, function(t)
    return self:has_record(entry, t)
  end)
  entry.last, entry.next = now, entry.cron:next(now)
  if due.count == 0 then return end
  if due.count > 1 and entry.missed ~= "run-once" then
    local earlier = {count = due.count - 1, first = due.first,
                     latest = entry.cron:prev(due.latest), capped = due.capped}
    self:record(entry, earlier.latest, "Skipped", timers.missed_text(earlier,
      "while the daemon was late"))
  end
  self:fire(entry, due.latest)
end

--- d:reload(reason): the timers again; unchanged ones keep their place.
function Daemon:reload(reason)
  local now, seen = self.clock.now(), {}
  for _, spec in ipairs(self:specs()) do
    seen[spec.key] = true
    local e = self.entries[spec.key]
    if e and e.signature == spec.signature then
      e.concurrency, e.missed = spec.concurrency, spec.missed
    else
      e = self:entry_of(spec)
      if e then
        if reason == "start" then self:catch_up(e, now) end
        local never
        e.last, e.next, never = now, e.cron:next(now)
        -- said once per timer (the log also counts repeats under this key)
        if not e.next then
          self.log("warn", "timer never fires", {task = e.task, timer = e.timer, error = never},
            "never fires " .. spec.key)
        end
        self.entries[spec.key] = e
      end
    end
  end
  for key in pairs(self.entries) do
    if not seen[key] then self.entries[key] = nil end
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
        "stopped: the daemon stopped (%s) before a slot was free", self.stopping))
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
