-- The scheduler (lua/regsh/async.lua) over the libuv loop (src/loop.c):
-- tasks, waits from the main chunk and from tasks, cancellation, signals.
local async = require "regsh.async"
local loop = require "regsh.core.loop"
local cmd = require "support.cmd"

describe("regsh.async #disk", function()
  it("runs a spawned task and returns its values through wait", function()
    local t = async.spawn(function(a, b) return a + b, "x" end, 3, 2)
    local sum, x = t:wait()
    assert.equal(5, sum)
    assert.equal("x", x)
    assert.equal("done", t.status)
  end)

  it("sleeps from the main chunk while tasks progress", function()
    local order = {}
    async.spawn(function() async.sleep(0.02); order[#order + 1] = "task" end)
    async.sleep(0.1)
    order[#order + 1] = "main"
    assert.same({"task", "main"}, order)
  end)

  it("runs sleeping tasks concurrently, not one after another", function()
    local start = loop.monotonic()
    local tasks = {}
    for i = 1, 20 do tasks[i] = async.spawn(function() async.sleep(0.2); return i end) end
    local results = {async.wait(table.unpack(tasks))}
    assert.equal(20, #results)
    assert.equal(20, results[20])
    -- twenty 0.2 s sleeps one after another would take 4 s
    assert.is_true(loop.monotonic() - start < 2)
  end)

  it("re-raises a task's error with its traceback", function()
    local t = async.spawn(function() error("kaput") end)
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.matches("kaput", err)
    assert.matches("stack traceback", err)
    assert.equal("failed", t.status)
    assert.is_false((t:result()))
  end)

  it("limits gather to the requested concurrency and keeps result order", function()
    local running, peak = 0, 0
    local fns = {}
    for i = 1, 12 do
      fns[i] = function()
        running = running + 1
        peak = math.max(peak, running)
        async.sleep(0.01)
        running = running - 1
        return i * 10
      end
    end
    local results = async.gather(fns, {concurrency = 3})
    assert.equal(3, peak)
    assert.equal(12, #results)
    assert.equal(10, results[1])
    assert.equal(120, results[12])
  end)

  it("gather raises the first error, or collects errors when asked", function()
    local fns = {
      function() return 1 end,
      function() error("second failed") end,
      function() return 3 end,
    }
    local ok, err = pcall(async.gather, fns)
    assert.is_false(ok)
    assert.matches("async_spec%.lua:%d+: second failed", err)
    local results, errors = async.gather(fns, {errors = "collect"})
    assert.equal(1, results[1])
    assert.equal(3, results[3])
    assert.is_nil(errors[1])
    assert.matches("second failed", errors[2])
  end)

  it("cancels a waiting task at its wait", function()
    local reached_end = false
    local t = async.spawn(function() async.sleep(30); reached_end = true end)
    async.sleep(0.01)  -- let it start waiting
    assert.is_true(t:cancel())
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.equal(async.cancelled, err)
    assert.equal("cancelled", t.status)
    assert.is_false(reached_end)
    assert.is_false(t:cancel())  -- already finished
  end)

  it("cancels a task that has not started yet", function()
    local ran = false
    local t = async.spawn(function() ran = true end)
    t:cancel()
    pcall(t.wait, t)
    assert.is_false(ran)
    assert.equal("cancelled", t.status)
  end)

  it("lets a task wait for another task", function()
    local inner = async.spawn(function() async.sleep(0.01); return "inner" end)
    local outer = async.spawn(function() return "outer+" .. inner:wait() end)
    assert.equal("outer+inner", outer:wait())
  end)

  it("blocks inside a coroutine of the user's own instead of breaking it", function()
    local t = async.spawn(function()
      local gen = coroutine.wrap(function()
        async.sleep(0.01)  -- cannot yield to the scheduler from here: it blocks
        coroutine.yield("from generator")
      end)
      return gen()
    end)
    assert.equal("from generator", t:wait())
  end)

  it("blocks inside a metamethod called from C, where yielding is impossible", function()
    local t = async.spawn(function()
      local list = {3, 1, 2}
      table.sort(list, function(a, b) async.sleep(0); return a < b end)
      return table.concat(list, ",")
    end)
    assert.equal("1,2,3", t:wait())
  end)

  it("reports a deadlock instead of hanging", function()
    local t
    t = async.spawn(function() return t:wait() end)
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.matches("cannot wait for itself", err)
  end)

  it("reports a blocking wait that nothing can end, and can wait on the op again", function()
    local op = loop.signal("SIGUSR2")  -- watchers do not keep the loop alive
    local ok, err = pcall(async.await, op)
    assert.is_false(ok)
    assert.matches("^deadlock: waiting for regsh.signal", err)
    ok, err = pcall(async.await, op)
    assert.matches("^deadlock: ", err)  -- not "already being waited for"
    op:close()
  end)

  it("runs a signal handler as a task on each delivery", function()
    local got = {}
    local watcher = async.on_signal("SIGUSR1", function(name) got[#got + 1] = name end)
    os.execute("kill -USR1 $PPID")  -- the shell's parent is this regsh
    for _ = 1, 100 do
      if #got > 0 then break end
      async.sleep(0.01)
    end
    watcher.close()
    assert.same({"SIGUSR1"}, got)
  end)

  it("lets a semaphore hold back all but n holders, serving waiters in order", function()
    local sem = async.semaphore(2)
    local running, peak, order = 0, 0, {}
    local tasks = {}
    for i = 1, 6 do
      tasks[i] = async.spawn(function()
        sem:run(function()
          running = running + 1
          peak = math.max(peak, running)
          order[#order + 1] = i
          async.sleep(0.01)
          running = running - 1
        end)
      end)
    end
    async.wait(table.unpack(tasks))
    assert.equal(2, peak)
    assert.same({1, 2, 3, 4, 5, 6}, order)
    assert.equal(2, sem.free)
  end)

  it("frees a semaphore slot when the holder raises or a waiter is cancelled", function()
    local sem = async.semaphore(1)
    assert.has_error(function() sem:run(function() error("inside") end) end, "inside")
    assert.equal(1, sem.free)
    local holder = async.spawn(function() sem:run(async.sleep, 0.05) end)
    local waiter = async.spawn(function() sem:run(function() end) end)
    async.sleep(0.01)
    waiter:cancel()
    holder:wait()
    pcall(waiter.wait, waiter)
    assert.equal("cancelled", waiter.status)
    assert.equal(1, sem.free)
    -- the main chunk can wait for a slot too
    local t = async.spawn(function() sem:run(async.sleep, 0.02) end)
    async.sleep(0)
    assert.equal("ran", sem:run(function() return "ran" end))
    t:wait()
  end)

  it("stays one scheduler when the module is loaded again", function()
    package.loaded["regsh.async"] = nil
    local again = require "regsh.async"
    assert.equal(async, again)
    local t = again.spawn(function() return again.running() end)
    assert.equal(t, async.wait(t))
  end)

  it("raises on misuse", function()
    -- luaL_argerror names the function as called: match the stable part
    local function raises(name, detail, f, ...)
      local ok, err = pcall(f, ...)
      assert.is_false(ok)
      assert.matches("bad argument #1 to '[%w.]*" .. name .. "' ", err)
      assert.matches("(" .. detail .. ")", err, 1, true)
    end
    raises("spawn", "function expected, got number", async.spawn, 42)
    raises("sleep", "non-negative number expected", async.sleep, -1)
    raises("sleep", "non-negative number expected", async.sleep, "soon")
    raises("signal", "unknown signal 'SIGNOPE' (expected SIGHUP, SIGINT, SIGQUIT, SIGTERM,"
      .. " SIGUSR1, SIGUSR2 or SIGWINCH)", loop.signal, "SIGNOPE")
    raises("timer", "delay out of range", loop.timer, -5)
    raises("cancel", "userdata expected, got table", loop.cancel, {})
    raises("semaphore", "integer >= 1 expected, got 0", async.semaphore, 0)
  end)
end)

describe("tasks at the end of a script", function()
  it("finishes spawned tasks before exiting", function()
    local out, status = cmd.regsh({"-e",
      "regsh.spawn(function() regsh.sleep(0.05); print('late task') end) print('main done')"})
    assert.equal(0, status)
    assert.equal("main done\nlate task\n", out)
  end)

  it("exits 1 when a task nobody waited for failed", function()
    local out, status, err = cmd.regsh({"-e",
      "regsh.spawn(function() error('unobserved failure') end) print('main done')"})
    assert.equal("main done\n", out)
    assert.equal(1, status)
    assert.matches("unobserved failure", err)
  end)
end)

describe("regsh.now and semaphore:acquire/release", function()
  it("tells the wall-clock time since the epoch, with sub-second precision", function()
    local before = os.time()
    local now = require("regsh").now()
    local after = os.time()
    assert.equal("float", math.type(now))
    -- os.time() is time(2), which reads the coarse clock: it may still say
    -- the last second a few milliseconds into the next one.
    assert.is_true(now >= before and now < after + 1.05, string.format("%f not in [%d, %d.05]",
      now, before, after + 1))
  end)

  it("hands a slot out with acquire and back with release, oldest waiter first", function()
    local sem = async.semaphore(1)
    sem:acquire()  -- the main chunk holds the only slot
    assert.equal(0, sem.free)
    local order, tasks = {}, {}
    for i = 1, 3 do
      tasks[i] = async.spawn(function()
        sem:acquire()
        order[#order + 1] = i
        async.sleep(0)
        sem:release()
      end)
    end
    async.sleep(0.01)
    assert.same({}, order)  -- all three wait for it
    sem:release()
    async.wait(table.unpack(tasks))
    assert.same({1, 2, 3}, order)
    assert.equal(1, sem.free)
  end)
end)
