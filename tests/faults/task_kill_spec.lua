-- `regsh run` killed with SIGKILL in the middle of a step (issue 12): its
-- run record is not lost (it stays Running until a recovery), `regsh serve`'s
-- start marks it Error (orphan recovery, lua/regsh/schedule/daemon.lua;
-- `regsh gc` will do the same), and a container run leaves no container,
-- network or volume behind: the reaper removes them once the runner is gone.
local cmd = require "support.cmd"
local faults = require "support.faults"
local images = require "support.images"
local support_podman = require "support.podman"

local function utc(s) return assert(require("regsh.time").parse_rfc3339(s)) end

describe("a task run killed with -9", function()
  local dir, state

  before_each(function()
    dir = assert(regsh.fs.temp_dir("regsh-fault-run"))
    state = dir .. "/state"
  end)
  after_each(function() regsh.fs.remove_tree(dir) end)

  local function run_record()
    local st = assert(regsh.store.open(state .. "/state.db"))
    local rows = assert(require("regsh.task.runs").list(st))
    st:close()
    return rows
  end

  -- Run ids count per store and repeat across stores, and recovery removes
  -- containers by run id: start this store's ids far from any other test's.
  local function private_ids()
    local st = assert(regsh.store.open(state .. "/state.db"))
    local seq = 10000000 + math.random(0, 10000000)
    assert(st.db:exec([[INSERT INTO task_runs (id, seq, task, trigger, status, created)
VALUES (?, ?, 'seed', 'Manual', 'Succeeded', 0)]], require("regsh.task.runs").id_of(seq), seq))
    st:close()
  end

  -- regsh run ARGS in the background (sh -c ... &): {pid, out, err}
  local function spawn(args, env)
    local words = {}
    for k, v in pairs(env or {}) do words[#words + 1] = k .. "=" .. cmd.quote(v) end
    words[#words + 1] = cmd.quote(cmd.bin)
    for _, a in ipairs(args) do words[#words + 1] = cmd.quote(a) end
    local out, err = dir .. "/out", dir .. "/err"
    local pid = tonumber((cmd.sh(table.concat(words, " ") .. " > " .. cmd.quote(out) .. " 2> "
      .. cmd.quote(err) .. " < /dev/null & echo $!")))
    return {pid = assert(pid), out = out, err = err}
  end

  -- regsh serve's start on the store: its orphan recovery, then SIGTERM
  local function recover()
    local argv = {cmd.bin, "serve", "--state", state, stdout = "capture", stderr = "capture",
      env = {REGSH_SERVE_CLOCK = utc("2026-01-01T00:00:00Z") .. ":1"}, env_merge = true}
    local p <close> = assert(regsh.proc.spawn(argv))
    faults.wait_for("the orphan marked Error", function()
      return run_record()[1].status == "Error"
    end)
    assert(p:kill("SIGTERM"))
    local r = p:wait()
    assert.equal(0, r.code, r.stderr)
    return r
  end

  it("local executor: the record survives, the next serve start marks it Error", function()
    local pidfile = dir .. "/pid"
    local child = spawn({"run", "--executor", "local", "--state", state,
      "--cmd", "echo $$$$ > " .. cmd.quote(pidfile) .. "; exec sleep 300", "/dev/null"})
    local step_pid = faults.wait_for("the step", function()
      local f = io.open(pidfile)
      local n = f and f:read("n")
      if f then f:close() end
      return n
    end)
    local runs = run_record()
    assert.equal(1, #runs)
    assert.equal("Running", runs[1].status)
    faults.kill(child.pid)
    assert.equal("Running", run_record()[1].status)   -- not lost, not yet recovered
    local r = recover()
    local run = run_record()[1]
    assert.matches("^the regsh running it died %(pid " .. child.pid .. "%)$", run.error)
    assert.matches("orphaned run marked Error", r.stderr, 1, true)
    -- a local step is a process group of its own (setsid) and outlives the
    -- kill; what reaps it is not regsh (see tests/faults/README.md)
    cmd.sh("kill -KILL " .. step_pid .. " 2>/dev/null")
  end)

  it("podman executor: the reaper removes container and network; serve marks the run Error",
    function()
    images.require_podman()
    local out, status, err = cmd.sh("CONTAINERS_CONF=" .. cmd.quote(support_podman.CONTAINERS_CONF)
      .. " scripts/seed-images")
    assert(status == 0, "scripts/seed-images failed: " .. out .. err)
    private_ids()
    -- two steps, so the run has a network of its own; the second waits long
    local marker = tostring(3000000 + math.random(0, 999999))
    local file = dir .. "/task.yaml"
    local f = assert(io.open(file, "w"))
    f:write("version: v1.1.0\nsteps:\n  - id: first\n    cmd: " .. support_podman.BUSYBOX
      .. " true\n  - id: long\n    cmd: " .. support_podman.BUSYBOX .. " sleep " .. marker .. "\n")
    f:close()
    local child = spawn({"run", "--executor", "podman", "--state", state, "-f", file,
      "/dev/null"}, support_podman.ENV)
    -- the key of the run, read off its running container
    local key = faults.wait_for("the long step's container", function()
      local ok, list = pcall(support_podman.run, "ps", "--format",
        '{{.Command}} {{index .Labels "regsh.key"}}')
      return ok and list:match("sleep " .. marker .. " (%S+)")
    end, 180)
    local label = "regsh.key=" .. key
    assert.matches("^" .. run_record()[1].id .. "%-", key)   -- this run's, of the private ids
    assert.is_true(#support_podman.leftovers(label) >= 2, "no container and network to leave")
    faults.kill(child.pid)
    faults.wait_for("the reaper's cleanup", function()
      return #support_podman.leftovers(label) == 0
    end, 180)
    assert.equal("Running", run_record()[1].status)
    recover()
    local run = run_record()[1]
    assert.equal("podman", run.executor)
    assert.matches("^the regsh running it died", run.error)
    assert.same({}, support_podman.leftovers(label))
  end)
end)
