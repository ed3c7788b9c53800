-- regsh gc through the binary: a `regsh run` killed with -9 (local executor,
-- and podman with a detached container, its reaper killed too) is marked
-- Error and its containers, network and volume removed; --dry-run and -o
-- json; a live run and its objects are never touched, serve or not.
local cmd = require "support.cmd"
local fs = require "regsh.fs"
local json = require "regsh.json"
local exec_container = require "regsh.task.exec_container"
local support_podman = require "support.podman"

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local wait = require "support.wait"
local wait_for, read_number = wait.until_true, wait.read_number

describe("regsh gc", function()
  local dir, state, ctx

  before_each(function()
    dir = assert(fs.temp_dir("regsh-gc"))
    state, ctx = dir .. "/state", dir .. "/ctx"
    assert(fs.mkdir(ctx))
  end)

  after_each(function() fs.remove_tree(dir) end)

  local function gc(args)
    local full = {"gc", "--state", state}
    for _, a in ipairs(args or {}) do full[#full + 1] = a end
    return cmd.regsh(full)
  end

  local function runs()
    return json.decode((cmd.regsh({"task", "list-runs", "--state", state, "-o", "json",
      "--top", "100"})))
  end

  -- a `regsh run` of ctx's acb.yaml, going on in the background
  local function start_run(executor)
    return assert(regsh.proc.spawn{cmd.bin, "run", "--executor", executor, "--state", state,
      ctx, env = support_podman.ENV, env_merge = true})
  end

  it("marks a run whose regsh was killed with -9 Error; --dry-run changes nothing", function()
    local pidfile = dir .. "/step.pid"
    write(ctx .. "/acb.yaml", "version: v1.1.0\nsteps:\n  - id: long\n    cmd: echo $$$$ > "
      .. pidfile .. "; exec sleep 60\n")
    local p <close> = start_run("local")
    local step = wait_for("the step", function() return read_number(pidfile) end)
    -- alive: gc leaves the run alone
    -- (other dead runs' objects on this host may go: only ours are looked at)
    local out, status, err = gc()
    assert.equal(0, status, err)
    assert.not_matches("mark", out, 1, true)
    assert.equal("Running", runs()[1].status)
    assert(p:kill("SIGKILL"))
    p:wait()
    os.execute("kill -9 " .. math.tointeger(step) .. " 2>/dev/null")
    out, status, err = gc({"--dry-run"})
    assert.equal(0, status, err)
    assert.matches("^would mark run ca1 %(task %S*%) Error: the regsh running it died %(pid %d+%)\n",
      out)
    assert.not_matches("\nremoved ", out)
    assert.equal("Running", runs()[1].status)
    out, status, err = gc({"-o", "json"})
    assert.equal(0, status, err)
    local report = json.decode(out)
    assert.is_false(report.dryRun)
    assert.equal(1, #report.runs)
    assert.equal("ca1", report.runs[1].runId)
    local run = runs()[1]
    assert.equal("Error", run.status)
    assert.matches("^the regsh running it died %(pid %d+%)$", run.error)
    assert.equal("failed", run.steps[1].status)
    out = gc()
    assert.not_matches("mark", out, 1, true)
  end)

  it("leaves the runs of a live regsh serve on the same store alone", function()
    local pidfile = dir .. "/step.pid"
    local code = string.format([[
local st = assert(regsh.store.open(%q))
assert(require("regsh.schedule.tasks").create(st, {name = "nightly", kind = "cmd",
  context = "/dev/null", executor = "local", definition = %q,
  timers = {{schedule = "* * * * *"}}}))]], state .. "/state.db",
      "echo $$$$ > " .. pidfile .. "; exec sleep 60")
    local out, status, err = cmd.regsh({"-e", code})
    assert.equal(0, status, out .. err)
    local start = assert(require("regsh.time").parse_rfc3339("2026-01-01T09:59:58Z"))
    local p <close> = assert(regsh.proc.spawn{cmd.bin, "serve", "--state", state, "--grace", "0",
      env = {REGSH_SERVE_CLOCK = string.format("%d:60", start)}, env_merge = true,
      stdout = "capture", stderr = "capture"})
    wait_for("the step", function() return read_number(pidfile) end)
    out, status, err = gc()
    assert.equal(0, status, err)
    assert.not_matches("mark", out, 1, true)
    local running = 0
    for _, run in ipairs(runs()) do
      assert.not_equal("Error", run.status)
      if run.status == "Running" then running = running + 1 end
    end
    assert.is_true(running >= 1)
    assert(p:kill("SIGTERM"))
    local r = p:wait()
    assert.equal(0, r.code, r.stderr)
    for _, run in ipairs(runs()) do
      assert.not_equal("Error", run.status)
    end
  end)

  describe("with podman", function()
    setup(function()
      require("support.images").require_podman()
      local out, status, err = cmd.sh("CONTAINERS_CONF=" .. cmd.quote(support_podman.CONTAINERS_CONF)
        .. " scripts/seed-images")
      assert(status == 0, "scripts/seed-images failed: " .. out .. err)
    end)

    -- the reaper process watching pid (its spec names it: "pid":PID, escaped in its -e chunk)
    local function reaper_of(pid)
      return wait.find_process(string.format('pid\\":%d,', pid))
        or wait.find_process(string.format('pid\\":%d}', pid))
    end

    it("spares a live run's objects, then removes them once its regsh and reaper are killed",
      function()
      write(ctx .. "/acb.yaml", string.format([[
version: v1.1.0
steps:
  - id: web
    detach: true
    cmd: %s sleep 600
  - id: long
    cmd: %s sleep 600
]], support_podman.BUSYBOX, support_podman.BUSYBOX))
      local p <close> = start_run("podman")
      local pid = p:pid()
      local owner = string.format("regsh.owner=%d:%s", pid, exec_container.start_time(pid))
      wait_for("the two containers", function()
        return #support_podman.leftovers(owner) >= 4   -- 2 containers, a network, a volume
      end)
      local made = support_podman.leftovers(owner)
      local out, status, err = gc()
      assert.equal(0, status, err)
      for _, name in ipairs(made) do
        assert.not_matches(name, out, 1, true)
      end
      assert.same(made, support_podman.leftovers(owner))
      assert.equal("Running", runs()[1].status)
      local reaper = assert(reaper_of(pid), "no reaper")
      os.execute("kill -9 " .. reaper)
      assert(p:kill("SIGKILL"))
      p:wait()
      out, status, err = gc({"--dry-run"})
      assert.equal(0, status, err)
      for _, name in ipairs(made) do
        assert.matches("would remove podman %a+ " .. name:gsub("%p", "%%%0") .. " %(run ca1%)\n", out)
      end
      assert.same(made, support_podman.leftovers(owner))
      out, status, err = gc()
      assert.equal(0, status, err)
      assert.matches("^marked run ca1 %(task %S*%) Error: the regsh running it died", out)
      for _, name in ipairs(made) do
        assert.matches("removed podman %a+ " .. name:gsub("%p", "%%%0") .. " %(run ca1%)\n", out)
      end
      assert.same({}, support_podman.leftovers(owner))
      assert.equal("Error", runs()[1].status)
    end)
  end)
end)
