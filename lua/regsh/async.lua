-- regsh.async: the scheduler. Tasks are coroutines; a task that waits yields
-- to this scheduler, which resumes it when the C op it waits on is handed
-- back by regsh.core.loop.run(). Code that is not in a task (the main chunk,
-- a coroutine of the user's own, a metamethod called from C) cannot yield
-- here, so a wait there drives the loop itself until its op is ready: scripts
-- read top to bottom and spawned tasks keep running meanwhile.
local loop = require "regsh.core.loop"

-- One scheduler per Lua state, even if the module is loaded again (busted
-- unloads modules between spec files): two schedulers would each pop ops the
-- other one's tasks wait on, and strand them.
local REGISTRY_KEY = "regsh.async"
local registry = debug.getregistry()
if registry[REGISTRY_KEY] then return registry[REGISTRY_KEY] end

local M = {}

local WAIT = setmetatable({}, {__name = "regsh.async.WAIT"})
local BLOCKED = setmetatable({}, {__name = "regsh.async.BLOCKED"})

-- The error a cancelled task sees at its wait; re-raise it if you catch it.
M.cancelled = setmetatable({}, {
  __name = "regsh.async.cancelled",
  __tostring = function() return "ECANCELED: task cancelled" end,
})
local cancelled = M.cancelled

local task_of = setmetatable({}, {__mode = "k"})  -- coroutine -> task
local waiting = {}                               -- op -> task | BLOCKED
local notified = setmetatable({}, {__mode = "k"}) -- op -> true: news nobody waited for
local listeners = {}                             -- op -> function(op): repeating ops
local queue, head, tail = {}, 1, 0               -- runnable tasks
local live = 0                                   -- tasks not finished
local unobserved = {}                            -- failed tasks nobody waited on
local ready = {}                                 -- reused buffer for loop.run
local settled = false                            -- a task ended, or a blocking waiter got a slot

local Task = {}
Task.__index = Task
Task.__name = "regsh.task"

function Task:__tostring()
  return string.format("regsh.task (%s)", self.status)
end

local function push(task)
  if not task.queued then
    task.queued = true
    tail = tail + 1
    queue[tail] = task
  end
end

local function traceback(err)
  if err == cancelled then return err end
  if type(err) ~= "string" then
    local mt = getmetatable(err)
    if not (mt and mt.__tostring) then return err end
    err = tostring(err)
  end
  return debug.traceback(err, 2)
end

local function settle(task, results)
  task.results = results
  if results[1] then task.status = "done"
  elseif results[2] == cancelled then task.status = "cancelled"
  else
    task.status = "failed"
    if not task.waiters then unobserved[task] = true end
  end
  live = live - 1
  settled = true
  for _, waiter in ipairs(task.waiters or {}) do push(waiter) end
  task.waiters = nil
end

local function body(fn, ...)
  return WAIT, table.pack(xpcall(fn, traceback, ...))
end

local function resume(task)
  task.queued = false
  local signal = nil
  if task.cancel_requested then
    task.cancel_requested = false
    signal = cancelled
    if not task.started then  -- cancelled before it ran at all
      return settle(task, {n = 2, false, cancelled})
    end
  end
  local ok, tag, results
  if task.started then
    ok, tag, results = coroutine.resume(task.co, signal)
  else
    task.started = true
    ok, tag, results = coroutine.resume(task.co, task.fn, table.unpack(task.args, 1, task.args.n))
    task.fn, task.args = nil, nil
  end
  if not ok then  -- only a fault of the scheduler itself lands here
    return settle(task, {n = 2, false, debug.traceback(task.co, tostring(tag))})
  end
  if coroutine.status(task.co) == "dead" then return settle(task, results) end
  if tag ~= WAIT then push(task) end  -- a bare coroutine.yield(): run again later
end

local function run_queue()
  while head <= tail do
    local task = queue[head]
    queue[head] = nil
    head = head + 1
    resume(task)
  end
  head, tail = 1, 0
end

local function dispatch(op)
  local listener = listeners[op]
  if listener then listener(op) end
  local w = waiting[op]
  if w == nil then
    notified[op] = true
  else
    waiting[op] = nil
    if w == BLOCKED then notified[op] = true else push(w) end
  end
end

-- One turn: run what is runnable, then one pass of the loop (blocking only
-- when nothing is runnable). Returns false when nothing can ever happen again.
-- A task that ended in run_queue may be what a blocking wait (join, a
-- semaphore ticket) is for: then the pass must not block, or that wait
-- would sit until some unrelated event (a server's connection timeout).
local function turn()
  settled = false
  run_queue()
  local n, alive = loop.run((head <= tail or settled) and "nowait" or "once", ready)
  for i = 1, n do
    local op = ready[i]
    ready[i] = nil
    dispatch(op)
  end
  return n > 0 or alive or head <= tail
end

local function stuck(what)
  error("deadlock: waiting for " .. what .. " but nothing is left running", 3)
end

-- The task running this code, when the code can yield to the scheduler.
local function current_task()
  local co = coroutine.running()
  local task = task_of[co]
  if task and coroutine.isyieldable() then return task end
end

local function yield_task()
  local signal = coroutine.yield(WAIT)
  if signal == cancelled then error(cancelled, 0) end
end

-- Run the loop until op has news (for waits that cannot yield).
local function drive_until_notified(op)
  while not notified[op] do
    if not turn() and not notified[op] then stuck(tostring(op)) end
  end
end

--- Wait until op (a regsh.core op userdata) has news: it finished, or a
--- repeating op was notified. Returns at once if news came while nobody waited.
function M.await(op)
  if notified[op] then
    notified[op] = nil
    return
  end
  if waiting[op] ~= nil then
    error("this operation is already being waited for", 2)
  end
  local task = current_task()
  if task then
    if task.cancel_requested then
      task.cancel_requested = false
      error(cancelled, 0)
    end
    waiting[op] = task
    task.waiting_op = op
    local ok, err = pcall(yield_task)
    task.waiting_op = nil
    if not ok then
      waiting[op] = nil
      error(err, 0)
    end
    notified[op] = nil
    return
  end
  waiting[op] = BLOCKED
  local ok, err = pcall(drive_until_notified, op)
  if not ok then
    waiting[op] = nil  -- interrupted (Ctrl-C, an error in a task's code): not waiting any more
    error(err, 0)
  end
  notified[op] = nil
end

--- Start fn(...) as a task; returns the task. It runs when the current code
--- next waits (or when the main chunk ends).
function M.spawn(fn, ...)
  if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
    error("bad argument #1 to 'spawn' (function expected, got " .. type(fn) .. ")", 2)
  end
  local task = setmetatable({status = "running", fn = fn, args = table.pack(...)}, Task)
  task.co = coroutine.create(body)
  task_of[task.co] = task
  live = live + 1
  push(task)
  return task
end

--- The task running now, or nil in the main chunk.
function M.running()
  return task_of[coroutine.running()]
end

local function join(task)
  if task.status ~= "running" then return end
  local me = current_task()
  if me == task then error("a task cannot wait for itself", 3) end
  if me then
    task.waiters = task.waiters or {}
    table.insert(task.waiters, me)
    me.waiting_task = task
    local ok, err = pcall(yield_task)
    me.waiting_task = nil
    if not ok then error(err, 0) end
    return
  end
  task.waiters = task.waiters or {}
  while task.status == "running" do
    if not turn() and task.status == "running" then stuck(tostring(task)) end
  end
end

--- Wait for the task; returns what its function returned, or raises its error.
function Task:wait()
  join(self)
  local r = self.results
  unobserved[self] = nil
  if r[1] then return table.unpack(r, 2, r.n) end
  error(r[2], 0)
end

--- ok, ... of the finished task (ok false with the error), without raising;
--- nil while it still runs.
function Task:result()
  if self.status == "running" then return nil end
  unobserved[self] = nil
  return table.unpack(self.results, 1, self.results.n)
end

--- Stop the task at its current (or next) wait with the error regsh.async.cancelled.
--- Returns false if it had already finished.
function Task:cancel()
  if self.status ~= "running" then return false end
  self.cancel_requested = true
  local op = self.waiting_op
  if op then
    waiting[op] = nil
    loop.cancel(op)
    push(self)
  elseif self.waiting_semaphore then
    local waiters = self.waiting_semaphore.queue
    for i = #waiters, 1, -1 do
      if waiters[i] == self then table.remove(waiters, i) end
    end
    push(self)
  elseif self.waiting_task then
    local waiters = self.waiting_task.waiters or {}
    for i = #waiters, 1, -1 do
      if waiters[i] == self then table.remove(waiters, i) end
    end
    push(self)
  elseif not self.started then
    push(self)
  end
  return true
end

--- Wait for every task; returns the first result of each, in order. Raises the
--- first error after all have finished.
function M.wait(...)
  local tasks = table.pack(...)
  local out = {n = tasks.n}
  for i = 1, tasks.n do join(tasks[i]) end
  for i = 1, tasks.n do
    local r = tasks[i].results
    unobserved[tasks[i]] = nil
    if not r[1] then error(r[2], 0) end
    out[i] = r[2]
  end
  return table.unpack(out, 1, out.n)
end

--- Run the functions as tasks, at most opts.concurrency at once (default all),
--- and return an array of their first results. The first error is raised
--- once all have finished, unless opts.errors == "collect": then the errors
--- come back as a second array (nil where a function succeeded).
function M.gather(fns, opts)
  opts = opts or {}
  local count = #fns
  local limit = math.max(1, math.min(opts.concurrency or count, count))
  local results, errors, first_error = {}, {}, nil
  local next_index = 0
  local function worker()
    while next_index < count do
      next_index = next_index + 1
      local i = next_index
      local ok, value = xpcall(fns[i], traceback)
      if ok then results[i] = value
      elseif value == cancelled then error(cancelled, 0)
      else
        errors[i] = value
        first_error = first_error or i
      end
    end
  end
  local workers = {}
  for i = 1, (count > 0 and limit or 0) do workers[i] = M.spawn(worker) end
  local ok, err = pcall(function() for _, w in ipairs(workers) do join(w) end end)
  if not ok then  -- we were cancelled: so are the workers
    for _, w in ipairs(workers) do w:cancel() end
    error(err, 0)
  end
  if opts.errors == "collect" then return results, errors end
  if first_error then error(errors[first_error], 0) end
  return results
end

--- A counting semaphore: at most n holders at once, waiters served in the
--- order they came. semaphore:run(fn, ...) is the usual way in.
local Semaphore = {}
Semaphore.__index = Semaphore
Semaphore.__name = "regsh.semaphore"

function M.semaphore(n)
  if math.type(n) ~= "integer" or n < 1 then
    error("bad argument #1 to 'semaphore' (integer >= 1 expected, got " .. tostring(n) .. ")", 2)
  end
  return setmetatable({free = n, queue = {}}, Semaphore)
end

--- Take a slot, waiting for one if all are taken.
function Semaphore:acquire()
  if self.free > 0 then
    self.free = self.free - 1
    return
  end
  local me = current_task()
  local waiters = self.queue
  if me then
    waiters[#waiters + 1] = me
    me.waiting_semaphore = self
    local ok, err = pcall(yield_task)
    me.waiting_semaphore = nil
    if not ok then
      -- cancelled: a slot handed over meanwhile goes on to the next waiter
      if me.semaphore_granted then
        me.semaphore_granted = nil
        self:release()
      end
      error(err, 0)
    end
    me.semaphore_granted = nil
    return
  end
  local ticket = {}
  waiters[#waiters + 1] = ticket
  while not ticket.granted do
    if not turn() and not ticket.granted then stuck("a semaphore slot") end
  end
end

--- Give a slot back: straight to the oldest waiter, so nobody overtakes it.
function Semaphore:release()
  local next_waiter = table.remove(self.queue, 1)
  if next_waiter == nil then
    self.free = self.free + 1
  elseif getmetatable(next_waiter) == Task then
    next_waiter.semaphore_granted = true
    push(next_waiter)
  else
    next_waiter.granted = true  -- a blocking waiter outside any task
    settled = true
  end
end

local function release_and_return(semaphore, ok, ...)
  semaphore:release()
  if not ok then error((...), 0) end
  return ...
end

--- Call fn(...) holding a slot; the slot is released even if fn raises.
function Semaphore:run(fn, ...)
  self:acquire()
  return release_and_return(self, pcall(fn, ...))
end

--- Suspend for the given number of seconds (a task lets others run meanwhile).
function M.sleep(seconds)
  if type(seconds) ~= "number" or seconds < 0 then
    error("bad argument #1 to 'sleep' (non-negative number expected)", 2)
  end
  local op = loop.timer(seconds)
  local ok, err = pcall(M.await, op)
  if not ok then
    loop.cancel(op)
    error(err, 0)
  end
end

--- Run handler(name) as a new task on each delivery of the named signal
--- ("SIGTERM", "SIGHUP", ...). Returns a watcher with :close(). Watchers do
--- not keep a script alive on their own.
function M.on_signal(name, handler)
  local op = loop.signal(name)
  listeners[op] = function(o)
    for _ = 1, o:take() do M.spawn(handler, name) end
  end
  return {
    close = function()
      listeners[op] = nil
      op:close()
    end,
  }
end

--- Run until every spawned task has finished (main.c calls this after the
--- main chunk). A task that failed and that nobody waited for is reported
--- here: the first such error is raised, so the exit status says it.
function M.finish()
  while live > 0 or head <= tail do
    if not turn() and live > 0 then
      stuck(live .. " unfinished task(s)")
    end
  end
  local first
  for task in pairs(unobserved) do
    unobserved[task] = nil
    if first then io.stderr:write("regsh: task failed: ", tostring(task.results[2]), "\n")
    else first = task.results[2] end
  end
  if first then error(first, 0) end
end

M.now = loop.now
M.monotonic = loop.monotonic

registry[REGISTRY_KEY] = M
return M
