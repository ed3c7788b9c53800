-- Tasks end to end in podman, through the runner: graphs with when, a
-- detached server reached by its step id, a failing step and its
-- dependants, ignoreErrors, retries, a step timeout, an image pulled from a
-- plain-HTTP loopback registry, a missing image refused before anything
-- starts, and cleanup leaving no container, network or volume behind. The
-- seed example (the recipe's task file 1) is in recipe_spec.lua; the same
-- graphs on the local executor are in task_runner_spec.lua.
local task = require "regsh.task"
local exec_container = require "regsh.task.exec_container"
local cmd = require "support.cmd"
local images = require "support.images"
local registry = require "support.registry"

local support_podman = require "support.podman"

local BUSYBOX = support_podman.BUSYBOX
local CONTAINERS_CONF = support_podman.CONTAINERS_CONF
local ENV = support_podman.ENV
local leftovers = support_podman.leftovers

local counter = 0
-- a task with a name of its own, so its labels (regsh.task) are this test's
local function new_task()
  counter = counter + 1
  local name = string.format("podman-spec-%d-%d", registry.pid(), counter)
  return task.new{name = name}, name
end

-- run t in podman; returns the run and the output lines by step id
local function run_in_podman(t, opts)
  local lines = {}
  opts = opts or {}
  opts.executor = assert(exec_container.new{engine = "podman", env = ENV})
  opts.store = false
  opts.on_output = function(line, step)
    local key = step or "runner"
    lines[key] = lines[key] or {}
    table.insert(lines[key], (line:gsub("^" .. key:gsub("%p", "%%%0") .. " | ", "")))
  end
  return t:run(opts), lines
end

local function status_of(run, id)
  for _, s in ipairs(run.steps) do
    if s.id == id then return s end
  end
  error("no step " .. id)
end

describe("tasks in podman", function()
  setup(function()
    images.require_podman()
    local out, status, err = cmd.sh("CONTAINERS_CONF=" .. cmd.quote(CONTAINERS_CONF)
      .. " scripts/seed-images")
    assert(status == 0, "scripts/seed-images failed: " .. out .. err)
  end)

  it("runs a fan-out and fan-in with when, each container on the run's network", function()
    local t, name = new_task()
    t:step{id = "a", cmd = BUSYBOX .. " sh -c 'echo from-a > /workspace/a'", when = {"-"}}
    t:step{id = "b", cmd = BUSYBOX .. " sh -c 'echo from-b > /workspace/b'", when = {"-"}}
    t:step{id = "join", cmd = BUSYBOX .. " cat /workspace/a /workspace/b", when = {"a", "b"}}
    local run, lines = run_in_podman(t)
    assert.equal("Succeeded", run.status, run.error)
    assert.same({"from-a", "from-b"}, lines.join)
    assert.same({}, leftovers("regsh.task=" .. name))
  end)

  it("reaches a detached step by its id and removes it at the end", function()
    local t, name = new_task()
    t:step{id = "web", cmd = BUSYBOX .. " sh -c 'mkdir -p /www && echo served > /www/index.html"
      .. " && exec httpd -f -p 80 -h /www'", detach = true}
    t:step{id = "probe", cmd = BUSYBOX .. " sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do"
      .. " wget -qO- http://web:80/ && exit 0; sleep 0.3; done; exit 1'"}
    local run, lines = run_in_podman(t)
    assert.equal("Succeeded", run.status, run.error)
    assert.same({"served"}, lines.probe)
    assert.same({}, leftovers("regsh.task=" .. name))
  end)

  it("fails the run at a failing step and never starts its dependants", function()
    local t, name = new_task()
    t:step{id = "bad", cmd = BUSYBOX .. " sh -c 'exit 3'"}
    t:step{id = "after", cmd = BUSYBOX .. " echo never"}
    local run, lines = run_in_podman(t)
    assert.equal("Failed", run.status)
    assert.matches("failed to run step ID: bad: exit status 3", run.error, 1, true)
    assert.equal("failed", status_of(run, "bad").status)
    assert.equal("skipped", status_of(run, "after").status)
    assert.is_nil(lines.after)
    assert.same({}, leftovers("regsh.task=" .. name))
  end)

  it("goes on past a failing step with ignoreErrors", function()
    local t = new_task()
    t:step{id = "bad", cmd = BUSYBOX .. " sh -c 'exit 3'", ignoreErrors = true}
    t:step{id = "after", cmd = BUSYBOX .. " echo ran"}
    local run, lines = run_in_podman(t)
    assert.equal("Succeeded", run.status, run.error)
    assert.same({"ran"}, lines.after)
  end)

  it("retries a failing container, counting attempts", function()
    local t = new_task()
    -- fails until its third attempt: the workspace keeps the count
    t:step{id = "flaky", retries = 3, retryDelay = 1,
      cmd = BUSYBOX .. " sh -c 'echo x >> /workspace/n; test $(wc -l < /workspace/n) -ge 3'"}
    local run = run_in_podman(t)
    assert.equal("Succeeded", run.status, run.error)
    assert.equal(3, status_of(run, "flaky").attempts)
  end)

  it("stops a step at its timeout and removes its container", function()
    local t, name = new_task()
    t:step{id = "slow", cmd = BUSYBOX .. " sleep 60", timeout = 2}
    local started = regsh.monotonic()
    local run = run_in_podman(t)
    assert.equal("Failed", run.status)
    assert.matches("timed out", run.error, 1, true)
    assert.is_true(regsh.monotonic() - started < 50, "the step ran to its end")
    assert.same({}, leftovers("regsh.task=" .. name))
  end)

  describe("an image that is only in a registry", function()
    local reg
    setup(function() reg = registry.start{} end)
    teardown(function() registry.stop(reg) end)

    it("is pulled from a plain-HTTP loopback registry; one missing there fails first", function()
      local image = reg.host .. "/pulled/busybox:v1"
      support_podman.run("tag", BUSYBOX, image)
      support_podman.run("push", "--tls-verify=false", image)
      support_podman.run("rmi", image)   -- now only the registry has it
      local t = new_task()
      t:step{id = "remote", cmd = image .. " echo pulled"}
      local run, lines = run_in_podman(t)
      assert.equal("Succeeded", run.status, run.error)
      -- the engine's pull shows in the step's output, as docker's does in ACR's log
      assert.matches("Trying to pull " .. image, lines.remote[1], 1, true)
      assert.equal("pulled", lines.remote[#lines.remote])
      support_podman.run("rmi", image)
      t = new_task()
      t:step{id = "first", cmd = BUSYBOX .. " echo started"}
      t:step{id = "gone", cmd = reg.host .. "/pulled/busybox:v0 echo hi"}
      run, lines = run_in_podman(t)
      assert.equal("Error", run.status)
      assert.matches("image " .. reg.host .. "/pulled/busybox:v0 does not exist locally, nor in"
        .. " its registry (ENOTFOUND", run.error, 1, true)
      assert.is_nil(lines.first)
    end)
  end)

  it("refuses an image that does not exist before any container starts", function()
    local t, name = new_task()
    t:step{id = "first", cmd = BUSYBOX .. " echo started"}
    t:step{id = "missing", cmd = "localhost/regsh-test/no-such-image:v0 echo hi"}
    local run, lines = run_in_podman(t)
    assert.equal("Error", run.status)
    assert.matches("no-such-image", run.error, 1, true)
    assert.is_nil(lines.first)
    assert.same({}, leftovers("regsh.task=" .. name))
  end)
end)
