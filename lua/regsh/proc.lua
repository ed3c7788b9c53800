-- regsh.proc: child processes for scripts. regsh.core.proc (src/proc.c) starts
-- them and buffers their output; this file waits through the scheduler
-- (regsh.async) and runs on_stdout/on_stderr, so no Lua runs inside libuv.
-- Reference: docs/reference/proc.md.
local async = require "regsh.async"
local core = require "regsh.core.proc"
local loop = require "regsh.core.loop"

local M = {}

-- Per-handle state lives in the Lua registry, so that a second load of this
-- module (busted reloads modules between spec files) still delivers the lines
-- of processes started before it: one set per Lua state, as regsh.async's.
local STATE_KEY = "regsh.proc.state"  -- (plain "regsh.proc" names the handle metatable)
local state = debug.getregistry()[STATE_KEY]
if not state then
  state = {
    callbacks = setmetatable({}, {__mode = "k"}),  -- handle -> {stdout=, stderr=}
    waiting = setmetatable({}, {__mode = "k"}),    -- handle -> true during a wait
  }
  debug.getregistry()[STATE_KEY] = state
end
local callbacks, waiting = state.callbacks, state.waiting

-- {"prog", "arg", cwd = ...} or {argv = {...}, cwd = ...}: the list part is
-- argv, the string keys are options (C checks their names and types).
local function split(spec, fname, level)
  if type(spec) ~= "table" then
    error(("bad argument #1 to '%s' (table expected, got %s)"):format(fname, type(spec)),
      level + 1)
  end
  local argv, opts, positional = {}, {}, false
  for k, v in pairs(spec) do
    if type(k) == "string" then opts[k] = v
    elseif math.type(k) == "integer" and k >= 1 then
      argv[k] = v
      positional = true
    else
      error(("bad argument #1 to '%s' (unexpected key %s)"):format(fname, tostring(k)),
        level + 1)
    end
  end
  if opts.argv ~= nil then
    if positional then
      error(("bad argument #1 to '%s' (argv given twice)"):format(fname), level + 1)
    end
    if type(opts.argv) ~= "table" then
      error(("bad argument #1 to '%s' (argv must be a table)"):format(fname), level + 1)
    end
    argv, opts.argv = opts.argv, nil
  end
  return argv, opts
end

local function start(spec, fname)
  local argv, opts = split(spec, fname, 3)
  local p, err, code = core.spawn(argv, opts)
  if not p then return nil, err, code end
  if opts.on_stdout or opts.on_stderr then
    callbacks[p] = {stdout = opts.on_stdout, stderr = opts.on_stderr}
  end
  return p
end

-- Hand the whole lines read so far to the callbacks, stdout's first.
local function deliver(p, cbs)
  local out, err = core.take(p)
  if out then
    for line in out:gmatch("([^\n]*)\n") do cbs.stdout(line) end
  end
  if err then
    for line in err:gmatch("([^\n]*)\n") do cbs.stderr(line) end
  end
end

local function drain_and_wait(p)
  local cbs = callbacks[p]
  local running
  repeat
    -- look before delivering: a callback that yields lets the process end
    -- meanwhile, and the lines it wrote last must still be delivered
    running = loop.active(p)
    if cbs then deliver(p, cbs) else core.take(p) end  -- take raises if closed
    if running then async.await(p) end
  until not running
end

--- p:wait() -> result: wait for the process to end (yielding inside a task,
--- driving the loop otherwise), running the line callbacks meanwhile.
--- Returns the same result table each time it is called.
function core.methods.wait(p)
  if waiting[p] then error("process is already being waited for", 2) end
  waiting[p] = true
  local ok, err = pcall(drain_and_wait, p)
  waiting[p] = nil
  if not ok then error(err, 0) end
  return core.result(p)
end

--- spawn(spec) -> handle | nil, "CODE: message", "CODE": start a process and
--- return at once; handle:wait() gives its result.
function M.spawn(spec)
  return start(spec, "spawn")
end

--- signal(pid, signal) -> true | fail: signal a process that is not our
--- child (check it is the one you mean first: pids are reused).
M.signal = core.signal

--- reap_orphans() -> the number reaped so far | fail: become a child
--- subreaper and reap, on each SIGCHLD, the orphaned descendants that end
--- (PID 1's duty in a container); never a process regsh.proc started, nor one
--- forked in regsh's own session (io.popen's, os.execute's). regsh serve and
--- regsh run call it.
M.reap_orphans = core.reap_orphans

--- run(spec) -> result | nil, "CODE: message", "CODE": start a process and
--- wait for it; an error while waiting (a callback's, a cancellation) kills it.
function M.run(spec)
  local p, err, code = start(spec, "run")
  if not p then return nil, err, code end
  local handle <close> = p
  return handle:wait()
end

return M
