-- `regsh run --executor local` through the binary: -f in a directory
-- context, /dev/null with -f - (stdin), --cmd, --set, --dry-run starting
-- nothing, Ctrl-C (SIGINT to regsh) giving Canceled and 130 with the detached
-- child gone, and `regsh task list-runs` / `regsh task logs` on the records.
local cmd = require "support.cmd"
local fs = require "regsh.fs"

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function exists(path)
  return fs.stat(path) ~= nil
end

describe("regsh run (local executor)", function()
  local dir, state, ctx

  before_each(function()
    dir = assert(fs.temp_dir("regsh-run-cli"))
    state, ctx = dir .. "/state", dir .. "/ctx"
    assert(fs.mkdir(ctx))
  end)

  after_each(function() fs.remove_tree(dir) end)

  local function run(args, stdin)
    local full = {"run", "--executor", "local", "--state", state}
    for _, a in ipairs(args) do full[#full + 1] = a end
    return cmd.regsh(full, stdin)
  end

  it("runs -f from a directory context, in a copy of it", function()
    write(ctx .. "/data.txt", "from the context\n")
    write(ctx .. "/task.yaml", [[
version: v1.1.0
steps:
  - id: show
    cmd: cat data.txt; echo "run {{.Run.ID}} tag {{.Values.tag}}"; touch made-here
  - id: after
    cmd: ls made-here
]])
    local out, status, err = run({"-f", "task.yaml", "--set", "tag=v7", ctx})
    assert.equal(0, status, err)
    assert.matches("show | from the context\n", out, 1, true)
    assert.matches("show | run ca1 tag v7\n", out, 1, true)
    assert.matches("after | made-here\n", out, 1, true)
    assert.matches("Run ID: ca1 was successful after %d+s\n$", out)
    assert.is_false(exists(ctx .. "/made-here"))   -- the workspace is a copy
  end)

  it("reads the task from stdin with /dev/null, prepending version v1.1.0", function()
    local out, status, err = run({"-f", "-", "--set-secret", "pw=hunter2", "/dev/null"},
      "steps:\n  - cmd: echo secret {{.Values.pw}}\n  - cmd: exit 5\n")
    assert.equal(1, status, out)
    assert.matches("acb_step_0 | secret *****\n", out, 1, true)
    assert.is_nil(out:find("hunter2", 1, true))
    assert.matches("Run ID: ca1 failed after %d+s%. Error: failed to run step ID: acb_step_1: "
      .. "exit status 5", out)
    assert.equal("", err)
  end)

  it("builds ACR's one-step task for --cmd", function()
    local out, status, err = run({"--cmd", "echo hello; pwd", "/dev/null"})
    assert.equal(0, status, err)
    assert.matches("acb_step_0 | hello\n", out, 1, true)
    local _, s2, err2 = run({"--cmd", "true", "-f", "x.yaml", "/dev/null"})
    assert.equal(2, s2)
    assert.matches("Azure Container Registry can run with either --cmd myCommand /dev/null or "
      .. "-f myFile mySourceLocation, but not both.", err2, 1, true)
  end)

  it("prints the plan with --dry-run and starts nothing", function()
    write(ctx .. "/acb.yaml", "version: v1.1.0\nsteps:\n  - id: mk\n    cmd: touch "
      .. dir .. "/marker\n  - id: two\n    cmd: echo two\n    when: [\"-\"]\n")
    local out, status, err = run({"--dry-run", ctx})
    assert.equal(0, status, err)
    assert.matches("mk (cmd) after: -\n  /bin/sh -c 'touch " .. dir .. "/marker'\n", out, 1, true)
    assert.matches("two (cmd) after: -\n", out, 1, true)
    assert.is_false(exists(dir .. "/marker"))
    local list = cmd.regsh({"task", "list-runs", "--state", state})
    assert.is_nil(list:find("ca1", 1, true))
  end)

  it("reports a bad task before running anything", function()
    write(ctx .. "/acb.yaml", "version: v1.1.0\nsteps:\n  - cmd: touch " .. dir
      .. "/marker\n  - cmd: true\n    when: [nope]\n")
    local _, status, err = run({ctx})
    assert.equal(1, status)
    assert.matches("^regsh run: ETASK: .*nope", err)
    assert.is_false(exists(dir .. "/marker"))
  end)

  it("fails a build step with ECONTAINER before any step when no engine is on PATH", function()
    local out, status = cmd.regsh({"run", "--executor", "local", "--state", state, "-f", "-",
      "/dev/null"}, "steps:\n  - cmd: touch " .. dir .. "/marker\n  - build: -t app .\n",
      {PATH = dir})
    assert.equal(1, status)
    assert.matches("Error: ECONTAINER: step acb_step_1: a build step needs a container engine "
      .. "with --executor local, and neither podman nor docker is on PATH", out, 1, true)
    assert.is_false(exists(dir .. "/marker"))
    local list = cmd.regsh({"task", "list-runs", "--state", state, "-o", "json"})
    assert.equal("Error", require("regsh.json").decode(list)[1].status)
  end)

  it("is canceled by Ctrl-C: exit 130, status Canceled, the detached child gone", function()
    local pidfile, started = dir .. "/bg.pid", dir .. "/long.started"
    write(ctx .. "/acb.yaml", string.format([[
version: v1.1.0
steps:
  - id: bg
    detach: true
    cmd: echo $$$$ > %s; exec sleep 60
  - id: long
    cmd: touch %s; sleep 60
]], pidfile, started))
    local p <close> = assert(regsh.proc.spawn{cmd.bin, "run", "--executor", "local",
      "--state", state, ctx})
    local function pid_written()
      local f = io.open(pidfile)
      local pid = f and f:read("n")
      if f then f:close() end
      return pid
    end
    -- ($$$$ is the shell's $$: ACR's alias pass makes $$ one literal $)
    for _ = 1, 400 do
      if exists(started) and pid_written() then break end
      regsh.sleep(0.05)
    end
    local pid = assert(pid_written(), "the run never started its steps")
    assert(p:kill("SIGINT"))
    local r = p:wait()
    assert.equal(130, r.code, r.stderr)
    assert.matches("Run ID: ca1 was canceled after", r.stdout, 1, true)
    assert.is_nil(io.open("/proc/" .. pid .. "/stat"))
    local list = cmd.regsh({"task", "list-runs", "--state", state, "-o", "json"})
    local runs = require("regsh.json").decode(list)
    assert.equal("Canceled", runs[1].status)
  end)

  it("stops gracefully on the first signal (SIGTERM to the step), kills at the second", function()
    local marks, started = dir .. "/marks", dir .. "/started"
    -- the step survives SIGTERM (its trap notes it): only SIGKILL ends it
    write(ctx .. "/acb.yaml", string.format([[
version: v1.1.0
steps:
  - id: stubborn
    cmd: trap 'echo term >> %s' TERM; touch %s; while true; do sleep 0.05; done
]], marks, started))
    -- a grace period far longer than the test: only the second signal can end the run
    local p <close> = assert(regsh.proc.spawn{cmd.bin, "run", "--executor", "local",
      "--state", state, "--grace", "3600", ctx, timeout = 60})
    local wait = require("support.wait").until_true
    wait("the step", function() return exists(started) end, 400)
    assert(p:kill("SIGTERM"))
    wait("the step's SIGTERM", function()
      local f = io.open(marks)
      local text = f and f:read("a") or ""
      if f then f:close() end
      return text:find("term", 1, true)
    end, 400)
    assert(p:kill("SIGTERM"))
    local r = p:wait()
    assert.equal(143, r.code, r.stderr)
    assert.matches("Received SIGTERM: canceling the run", r.stdout, 1, true)
    local runs = require("regsh.json").decode((cmd.regsh({"task", "list-runs", "--state", state,
      "-o", "json"})))
    assert.equal("Canceled", runs[1].status)
  end)

  it("refuses a negative --grace with one line", function()
    local _, status, err = run({"--grace=-1", "--cmd", "true", "/dev/null"})
    assert.equal(2, status)
    assert.matches("--grace %-1: must be >= 0 seconds", err)
  end)

  it("runs a Lua workflow that returns its task, with its arguments and --set", function()
    write(dir .. "/wf.lua", [[
local t = regsh.task.new{name = "wf"}
t:step{id = "greet", cmd = "echo hello " .. arg[1]}
t:step{id = "lua", fn = function(ctx) ctx.log("x is", ctx.values.x, "run", ctx.id) end}
return t
]])
    local out, status, err = run({"--set", "x=42", dir .. "/wf.lua", "world"})
    assert.equal(0, status, err)
    assert.matches("greet | hello world\n", out, 1, true)
    assert.matches("lua | x is 42 run ca1\n", out, 1, true)
    out = cmd.regsh({"task", "list-runs", "--state", state})
    assert.matches("\nca1%s+wf%s+%S+%s+Succeeded", out)
  end)

  it("lists runs newest first and prints their logs", function()
    run({"--cmd", "echo first", "/dev/null"})
    run({"--cmd", "exit 1", "/dev/null"})
    local out, status, err = cmd.regsh({"task", "list-runs", "--state", state})
    assert.equal(0, status, err)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.matches("^RUN ID%s+TASK%s+PLATFORM%s+STATUS%s+TRIGGER%s+STARTED%s+DURATION%s+ATTEMPTS$",
      lines[1])
    assert.matches("^ca2%s+%S+%s+Failed%s+Manual%s+%d%d%d%d%-%d%d%-%d%dT", lines[3])
    assert.matches("^ca1%s+%S+%s+Succeeded%s+Manual", lines[4])
    out = cmd.regsh({"task", "list-runs", "--state", state, "--top", "1", "-o", "json"})
    local list = require("regsh.json").decode(out)
    assert.equal(1, #list)
    assert.equal("ca2", list[1].runId)
    out, status = cmd.regsh({"task", "logs", "--state", state})
    assert.equal(0, status)
    assert.matches("^Showing logs of the last created run%.\nRun ID: ca2\n", out)
    assert.matches("Run ID: ca2 failed after", out, 1, true)
    out = cmd.regsh({"task", "logs", "ca1", "--state", state})
    assert.matches("acb_step_0 | first\n", out, 1, true)
    local _, s3, err3 = cmd.regsh({"task", "logs", "ca9", "--state", state})
    assert.equal(1, s3)
    assert.matches("no run ca9", err3, 1, true)
  end)

  it("records every attempt: a step failing twice then passing shows three", function()
    local counter = dir .. "/count"
    write(ctx .. "/acb.yaml", string.format([[
version: v1.1.0
steps:
  - id: flaky
    retries: 2
    retryDelay: 1
    cmd: n=$(cat %s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %s; test $n -ge 3
]], counter, counter))
    local _, status, err = run({ctx})
    assert.equal(0, status, err)
    local out = cmd.regsh({"task", "list-runs", "--state", state})
    assert.matches("\nca1 .-Succeeded%s+Manual%s+%S+%s+%S+%s+3\n", out)
    local list = require("regsh.json").decode(
      (cmd.regsh({"task", "list-runs", "--state", state, "-o", "json"})))
    local step = list[1].steps[1]
    assert.equal("flaky", step.stepId)
    assert.equal(3, #step.attempts)
    for i, a in ipairs(step.attempts) do
      assert.equal(i, a.attempt)
      assert.equal(i < 3 and 1 or 0, a.exitCode)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT", a.startTime)
      assert.is_true(a.duration >= 0)
    end
    out = cmd.regsh({"task", "logs", "ca1", "--state", state})
    assert.matches("\nAttempts:\nStep flaky attempt 1: exit 1, started %S+, %d+%.%d+s\n"
      .. "Step flaky attempt 2: exit 1, started %S+, %d+%.%d+s\n"
      .. "Step flaky attempt 3: exit 0, started %S+, %d+%.%d+s\n$", out)
  end)
end)
