-- The task runner with the local executor: real processes, a real SQLite
-- store. Order is read from timestamps the steps write, never from timing
-- guesses: fan-out/fan-in, startDelay; fail-fast, ignoreErrors, retries,
-- repeat, the step and run timeouts, detach, Lua steps, masked secrets,
-- run ids and the store records.
local task = require "regsh.task"
local runs = require "regsh.task.runs"
local store = require "regsh.store"
local fs = require "regsh.fs"

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function stamp(path) return tonumber((assert(read(path), path))) end

describe("task runner (local executor)", function()
  local dir, st

  before_each(function()
    dir = assert(fs.temp_dir("regsh-runner-spec"))
    st = assert(store.open(dir .. "/state.db"))
  end)

  after_each(function()
    st:close()
    fs.remove_tree(dir)
  end)

  -- run t with the local executor on this spec's store; output kept in run.lines
  local function run(t, opts)
    opts = opts or {}
    opts.executor, opts.store = "local", opts.store or st
    local lines = {}
    opts.on_output = function(line) lines[#lines + 1] = line end
    local r = assert(t:run(opts))
    r.lines = lines
    r.text = table.concat(lines, "\n")
    return r
  end

  local function step_of(r, id)
    for _, s in ipairs(r.steps) do if s.id == id then return s end end
  end

  -- a cmd that writes the time it starts and ends to <dir>/<name>.start/.end
  local function timed(name, body)
    return string.format("date +%%s.%%N > %s/%s.start; %s; date +%%s.%%N > %s/%s.end",
      dir, name, body or "sleep 0.3", dir, name)
  end

  it("runs a fan-out and a fan-in in dependency order, the branches at once", function()
    local t = task.new{name = "diamond"}
    t:step{id = "a", cmd = timed("a", "true")}
    t:step{id = "b", cmd = timed("b"), when = {"a"}}
    t:step{id = "c", cmd = timed("c"), when = {"a"}}
    t:step{id = "d", cmd = timed("d", "true"), when = {"b", "c"}}
    local r = run(t)
    assert.equal("Succeeded", r.status, r.text)
    assert.is_true(stamp(dir .. "/a.end") <= stamp(dir .. "/b.start"))
    assert.is_true(stamp(dir .. "/a.end") <= stamp(dir .. "/c.start"))
    assert.is_true(stamp(dir .. "/b.end") <= stamp(dir .. "/d.start"))
    assert.is_true(stamp(dir .. "/c.end") <= stamp(dir .. "/d.start"))
    -- b and c overlap: each started before the other ended
    assert.is_true(stamp(dir .. "/b.start") < stamp(dir .. "/c.end"))
    assert.is_true(stamp(dir .. "/c.start") < stamp(dir .. "/b.end"))
    assert.matches("Step ID: d marked as successful %(elapsed time in seconds: %d+%.%d+%)", r.text)
    assert.matches("Run ID: " .. r.id .. " was successful after %d+s$", r.text)
  end)

  it("stops the dependants of a failing step and fails the run", function()
    local t = task.new{}
    t:step{id = "a", cmd = "true"}
    t:step{id = "b", cmd = "echo broken; exit 3"}
    t:step{id = "c", cmd = "touch " .. dir .. "/c-ran"}
    local r = run(t)
    assert.equal("Failed", r.status)
    assert.equal("failed to run step ID: b: exit status 3", r.error)
    assert.equal("failed", step_of(r, "b").status)
    assert.equal(3, step_of(r, "b").exit_code)
    assert.equal("skipped", step_of(r, "c").status)
    assert.is_nil(read(dir .. "/c-ran"))
    assert.matches("b | broken", r.text, 1, true)
    assert.matches("Run ID: " .. r.id .. " failed after %d+s%. Error: failed to run step ID: b: "
      .. "exit status 3", r.text)
  end)

  it("fails fast: a failure cancels the steps still running", function()
    local t = task.new{}
    t:step{id = "slow", cmd = "sleep 20; touch " .. dir .. "/slow-done", when = {"-"}}
    t:step{id = "bad", cmd = "sleep 0.2; exit 1", when = {"-"}}
    local start = regsh.monotonic()
    local r = run(t)
    assert.equal("Failed", r.status)
    assert.is_true(regsh.monotonic() - start < 10)
    assert.equal("failed", step_of(r, "slow").status)
    assert.equal("canceled", step_of(r, "slow").error)
    assert.is_nil(read(dir .. "/slow-done"))
  end)

  it("continues past a step with ignoreErrors, which counts as successful", function()
    local t = task.new{}
    t:step{id = "a", cmd = "exit 2", ignoreErrors = true}
    t:step{id = "b", cmd = "touch " .. dir .. "/b-ran"}
    local r = run(t)
    assert.equal("Succeeded", r.status)
    assert.equal("successful", step_of(r, "a").status)
    assert.truthy(read(dir .. "/b-ran"))
    assert.matches("Step ID: a encountered an error: exit status 2, but is set to ignore errors. "
      .. "Continuing...", r.text, 1, true)
  end)

  it("retries a failing command retries times, then fails", function()
    local t = task.new{}
    t:step{id = "flaky", cmd = "echo x >> " .. dir .. "/count; exit 1", retries = 2,
           retryDelay = 1}
    local r = run(t)
    assert.equal("Failed", r.status)
    assert.equal("x\nx\nx\n", read(dir .. "/count"))
    assert.equal(3, step_of(r, "flaky").attempts)
    local _, waits = r.text:gsub("Container failed during run: flaky, waiting 1 seconds before "
      .. "retrying%.%.%.", "")
    assert.equal(2, waits)
    assert.matches("Container failed during run: flaky. No retries remaining.", r.text, 1, true)
    local rec = runs.get(st, r.id)
    assert.equal(3, #rec.steps[1].attempts)
    assert.equal(1, rec.steps[1].attempts[3].exit_code)
  end)

  it("stops retrying once an attempt succeeds", function()
    local t = task.new{}
    t:step{id = "second", retries = 3, retryDelay = 1,
           cmd = string.format("echo x >> %s/n; [ $(wc -l < %s/n) -ge 2 ]", dir, dir)}
    local r = run(t)
    assert.equal("Succeeded", r.status, r.text)
    assert.equal(2, step_of(r, "second").attempts)
  end)

  it("repeats a step repeat more times", function()
    local t = task.new{}
    t:step{id = "again", cmd = "echo x >> " .. dir .. "/rep", ["repeat"] = 2}
    local r = run(t)
    assert.equal("Succeeded", r.status)
    assert.equal("x\nx\nx\n", read(dir .. "/rep"))
    assert.equal(3, step_of(r, "again").attempts)
  end)

  it("fails a step past its timeout, which covers its retries", function()
    local t = task.new{}
    t:step{id = "stuck", cmd = "echo x >> " .. dir .. "/tries; sleep 30", timeout = 1,
           retries = 3, retryDelay = 1}
    local start = regsh.monotonic()
    local r = run(t)
    assert.equal("Failed", r.status)
    assert.equal("failed to run step ID: stuck: timed out", r.error)
    assert.equal("x\n", read(dir .. "/tries"))
    assert.is_true(regsh.monotonic() - start < 10)
  end)

  it("ends a run past the run timeout with status Timeout", function()
    local t = task.new{}
    t:step{id = "long", cmd = "sleep 30"}
    t:step{id = "after", cmd = "touch " .. dir .. "/after"}
    local start = regsh.monotonic()
    local r = run(t, {timeout = 1})
    assert.equal("Timeout", r.status)
    assert.is_true(regsh.monotonic() - start < 10)
    assert.is_nil(read(dir .. "/after"))
    assert.equal("Timeout", runs.get(st, r.id).status)
    assert.matches("Run ID: " .. r.id .. " timed out after", r.text, 1, true)
  end)

  it("waits startDelay seconds after the dependencies, before the step", function()
    local t = task.new{}
    t:step{id = "late", cmd = timed("late", "true"), when = {"-"}, startDelay = 1}
    t:step{id = "early", cmd = timed("early", "true"), when = {"-"}}
    local r = run(t)
    assert.equal("Succeeded", r.status)
    assert.is_true(stamp(dir .. "/early.end") < stamp(dir .. "/late.start"))
    assert.matches("Waiting 1 seconds before executing step ID: late", r.text, 1, true)
  end)

  it("counts a detached step done once started and kills it at cleanup", function()
    local pidfile = dir .. "/server.pid"
    local t = task.new{}
    t:step{id = "server", detach = true, cmd = "echo $$ > " .. pidfile .. "; exec sleep 30"}
    t:step{id = "client", cmd = string.format(
      "while [ ! -s %s ]; do sleep 0.05; done; kill -0 $(cat %s) && echo alive", pidfile, pidfile)}
    local r = run(t)
    assert.equal("Succeeded", r.status, r.text)
    assert.matches("client | alive", r.text, 1, true)
    local pid = tonumber(read(pidfile))
    assert.is_nil(io.open("/proc/" .. pid .. "/stat"))
  end)

  it("cleans up after a failed run too: detached processes and the workspace", function()
    local pidfile = dir .. "/bg.pid"
    local t = task.new{}
    t:step{id = "bg", detach = true, cmd = "echo $$ > " .. pidfile .. "; pwd > " .. dir
      .. "/ws; exec sleep 30"}
    t:step{id = "bad", cmd = "while [ ! -s " .. dir .. "/ws ]; do sleep 0.05; done; exit 1"}
    local r = run(t)
    assert.equal("Failed", r.status)
    assert.is_nil(io.open("/proc/" .. tonumber(read(pidfile)) .. "/stat"))
    local ws = read(dir .. "/ws"):gsub("\n$", "")
    assert.is_nil(fs.stat(ws))
  end)

  it("runs Lua function steps in-process with the run's context", function()
    local seen = {}
    local t = task.new{name = "mixed"}
    t:step{id = "write", cmd = "echo data > file.txt"}
    t:step{id = "lua", fn = function(ctx)
      seen.id, seen.workspace = ctx.id, ctx.workspace
      seen.file = read(ctx.workspace .. "/file.txt")
      seen.tag = ctx.values.tag
      ctx.log("hello from", "lua")
    end}
    t:step{id = "broken", fn = function() return nil, "EXYZ: it broke" end}
    local r = run(t, {values = {tag = "v9"}})
    assert.equal("Failed", r.status)
    assert.equal(r.id, seen.id)
    assert.equal("data\n", seen.file)
    assert.equal("v9", seen.tag)
    assert.matches("lua | hello from lua", r.text, 1, true)
    assert.equal("failed to run step ID: broken: it broke", r.error)
    assert.equal("successful", step_of(r, "lua").status)
  end)

  it("escapes control characters in its own lines, which may quote a server", function()
    local t = task.new{}
    t:step{id = "quoting", fn = function() return nil, "EXYZ: the server said \27[2Jhi" end}
    local r = run(t)
    assert.equal("Failed", r.status)
    assert.is_nil(r.text:find("\27", 1, true))
    assert.matches("Error: failed to run step ID: quoting: the server said \\x1b[2Jhi",
      r.text, 1, true)
  end)

  it("masks secrets in the output and in the stored log", function()
    local t = task.new{}
    t:step{id = "leak", cmd = "echo the password is hunter2"}
    local r = run(t, {secrets = {"hunter2"}})
    assert.equal("Succeeded", r.status)
    assert.matches("leak | the password is *****", r.text, 1, true)
    assert.is_nil(r.text:find("hunter2", 1, true))
    local log = runs.log(st, r.id)
    assert.matches("leak | the password is *****", log, 1, true)
    assert.is_nil(log:find("hunter2", 1, true))
  end)

  it("gives run ids ca1, ca2, ... in order and records runs, steps and logs", function()
    local t = task.new{name = "ids"}
    t:step{id = "one", cmd = "echo one"}
    t:step{id = "two", cmd = "exit 4", ignoreErrors = true}
    local first, second = run(t), run(t)
    assert.equal("ca1", first.id)
    assert.equal("ca2", second.id)
    assert.equal("caa", runs.id_of(10))
    assert.equal("ca10", runs.id_of(36))
    local list = runs.list(st)
    assert.same({"ca2", "ca1"}, {list[1].id, list[2].id})
    assert.equal("ids", list[1].task)
    assert.equal("Manual", list[1].trigger)
    assert.equal("local", list[1].executor)
    local rec = runs.get(st, "ca1")
    assert.equal("Succeeded", rec.status)
    assert.is_true(rec.finished >= rec.started)
    assert.same({"one", "two"}, {rec.steps[1].step_id, rec.steps[2].step_id})
    assert.equal(4, rec.steps[2].exit_code)
    assert.equal(1, #runs.list(st, {top = 1}))
    assert.equal(0, #runs.list(st, {status = "Failed"}))
    assert.matches("one | one\n", runs.log(st, "ca1"), 1, true)
    assert.is_nil(runs.get(st, "ca9"))
  end)

  it("allocates distinct ids to runs of two processes on one store", function()
    local bin = require "support.bin_path"
    local script = dir .. "/alloc.lua"
    local f = assert(io.open(script, "w"))
    f:write(string.format([[
local st = assert(regsh.store.open(%q))
local ids = {}
for _ = 1, 20 do ids[#ids + 1] = assert(require("regsh.task.runs").begin(st, {})) end
print(table.concat(ids, " "))
]], dir .. "/state.db"))
    f:close()
    local a = assert(regsh.proc.spawn{bin, script})
    local b = assert(regsh.proc.spawn{bin, script})
    local out = a:wait().stdout .. b:wait().stdout
    local seen, n = {}, 0
    for id in out:gmatch("ca%w+") do
      assert.is_nil(seen[id], id)
      seen[id], n = true, n + 1
    end
    assert.equal(40, n)
  end)

  it("rejects a bad step when it is added", function()
    local t = task.new{}
    t:step{id = "a", cmd = "true"}
    assert.has_error(function() t:step{id = "b", cmd = "true", when = {"nope"}} end)
    assert.has_error(function() t:step{id = "c", cmd = "true", push = {"x"}} end)
    assert.equal(1, #t:plan().steps)
  end)
end)
