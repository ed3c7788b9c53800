-- Issue 16, the 2019 "ACR Tasks Daily Autopurge" recipe, command by command
-- with `regsh` for `az acr`/`acr`, against a real registry and podman: the two
-- task files byte for byte, a run with no context, acr-cli's 2019 purge flags
-- on tags of known ages, and the recipe's bad input. The nightly task (the
-- regsh image as `acr`) is the image's spec.
local registry = require "regsh.registry"
local cmd = require "support.cmd"
local images = require "support.images"
local regs = require "support.registry"
local support_podman = require "support.podman"
local P = require "support.purge"
local state = require "support.purge_state"

local HOUR, DAY = P.HOUR, P.DAY
local OLD, NEW = 10 * DAY + 6 * HOUR, 10 * DAY - 6 * HOUR   -- either side of --ago 10d

-- The recipe's files, as the issue prints them.
local TASK_FILE_1 = [[
steps:
- build: -t {{.Run.Registry}}/scratchy .
- id: app
  cmd: nginx:alpine
  ports:
    - 80:80
  detach: true
- cmd: byrnedo/alpine-curl --url http://app:80
- push: [{{.Run.Registry}}/scratchy]
]]
local TASK_FILE_2 = "steps:\n  - cmd: bash ./pre.sh\n  - build: -f Dockerfile .\n"
  .. "  - cmd: bash ./post.sh\n"

-- regsh ARGS exactly as the recipe writes them: the state store comes from
-- XDG_STATE_HOME (a fresh one per call unless given), podman's config from
-- CONTAINERS_CONF. Returns stdout, status, stderr, the state home.
local function recipe(args, home)
  home = home or cmd.temp_name()
  local out, status, err = cmd.regsh(args, nil,
    {CONTAINERS_CONF = support_podman.CONTAINERS_CONF, XDG_STATE_HOME = home})
  return out, status, err, home
end

describe("the recipe's tasks in podman", function()
  local server

  setup(function()
    images.require_podman()
    local out, status, err = cmd.sh("CONTAINERS_CONF=" .. cmd.quote(support_podman.CONTAINERS_CONF)
      .. " scripts/seed-images")
    assert(status == 0, "scripts/seed-images failed: " .. out .. err)
    server = regs.start{}
  end)
  teardown(function() regs.stop(server) end)

  it("task file 1: builds, serves, probes app by its step id, pushes; nothing left", function()
    assert.equal(TASK_FILE_1, cmd.read_file("scripts/examples/scratchy/acb.yaml"))
    local out, status, err = recipe({"run", "-f", "acb.yaml", "-r", server.host,
      "scripts/examples/scratchy"})
    assert.equal(0, status, out .. err)
    assert.matches("acb_step_2 | <h1>Welcome to nginx!</h1>", out, 1, true)
    local client = assert(registry.open(server.host))
    assert.same({"latest"}, P.world(client):tags("scratchy"))
    local key = assert(out:match("Network: 'regsh_([%w%-]+)'"), out)
    assert.same({}, support_podman.leftovers("regsh.key=" .. key))
  end)

  it("task file 2: pre.sh and post.sh run in /workspace around a build, in the log",
      function()
    assert.equal(TASK_FILE_2, cmd.read_file("scripts/examples/pre-post/acb.yaml"))
    local out, status, err, home = recipe({"run", "-f", "acb.yaml", "-r", server.host,
      "scripts/examples/pre-post"})
    assert.equal(0, status, out .. err)
    -- the live output: each script's line, then the context it found in /workspace
    for _, want in ipairs({
      "acb_step_0 | pre.sh: before the build, in /workspace\nacb_step_0 | Dockerfile\n"
        .. "acb_step_0 | acb.yaml\nacb_step_0 | post.sh\nacb_step_0 | pre.sh\n",
      "acb_step_1 | STEP 1/2: FROM busybox\n",
      "acb_step_2 | post.sh: after the build, in /workspace\nacb_step_2 | Dockerfile\n",
    }) do
      assert.matches(want, out, 1, true)
    end
    assert.is_true(out:find("pre.sh: before", 1, true) < out:find("STEP 1/2", 1, true))
    assert.is_true(out:find("STEP 1/2", 1, true) < out:find("post.sh: after", 1, true))
    -- the stored run log says the same
    local log, lstatus, lerr = recipe({"task", "logs"}, home)
    assert.equal(0, lstatus, lerr)
    assert.matches("acb_step_0 | pre.sh: before the build, in /workspace", log, 1, true)
    assert.matches("acb_step_2 | post.sh: after the build, in /workspace", log, 1, true)
    local key = assert(out:match("Network: 'regsh_([%w%-]+)'"), out)
    assert.same({}, support_podman.leftovers("regsh.key=" .. key))
  end)

  it("regsh run /dev/null --cmd \"hello-world\" prints the greeting", function()
    local out, status, err = recipe({"run", "/dev/null", "--cmd", "hello-world", "-r",
      server.host})
    assert.equal(0, status, out .. err)
    assert.matches("acb_step_0 | Hello from Docker!\n", out, 1, true)
    assert.matches("Run ID: ca1 was successful", out, 1, true)
  end)

  it("a --cmd image that does not exist fails naming it and leaves nothing", function()
    local home = cmd.temp_name()
    -- a few runs first, so this run's id (and labels) is not every spec's ca1
    for _ = 1, 3 do recipe({"run", "/dev/null", "--cmd", "hello-world", "-r", server.host}, home) end
    local image = "no-such/image-" .. regs.pid()
    local out, status, err = recipe({"run", "/dev/null", "--cmd", image, "-r", server.host},
      home)
    assert.equal(1, status, out .. err)
    local line = assert((out .. err):match("[^\n]*Run ID: ca4 failed[^\n]*"), out .. err)
    assert.matches("image " .. image .. " does not exist", line, 1, true)
    assert.same({}, support_podman.leftovers("regsh.run=ca4"))
    local runs = recipe({"task", "list-runs"}, home)
    assert.matches("ca4%s+linux%s+Error", runs)
  end)
end)

describe("acr purge's 2019 flags (regsh purge --repository, --dangling, -r)", function()
  local server, reg, world

  setup(function()
    server = regs.start{}
    reg = assert(registry.open(server.host, {log = function() end}))
    world = P.world(reg, server)
  end)
  teardown(function() regs.stop(server) end)

  -- images in repo, {tag = age}; returns {tag = digest}
  local function tagged(repo, ages)
    local out = {}
    for name, age in pairs(ages) do out[name] = world:image(repo, {name}, age) end
    return out
  end

  -- The recipe's two purges in its order, on one state store: old tags of
  -- scratch first, then the manifests that left dangling.
  it("--repository \"scratch\" --ago 10d -r, then --registry --repository --dangling",
      function()
    local home = cmd.temp_name()
    local scratch = tagged("scratch", {old1 = OLD, old2 = OLD + DAY, new1 = NEW, new2 = HOUR})
    local _, children = world:index("scratch", {"multi"}, HOUR)
    tagged("scratchy", {old = OLD})   -- the repository part is anchored
    tagged("scratch/sub", {old = OLD})
    local out, status, err = recipe({"purge", "--repository", "scratch", "--ago", "10d", "-r",
      server.host}, home)
    assert.equal(0, status, err)
    assert.equal("regsh purge: --repository scratch is acr's 2019 name for --filter "
      .. "'scratch:.*'\n", err)
    assert.matches("Number of deleted tags: 2\nNumber of deleted manifests: 0\n$", out)
    assert.same({"multi", "new1", "new2"}, world:tags("scratch"))
    world:expect_gone("scratch", {})   -- old1's and old2's manifests dangle now
    assert.same({"old"}, world:tags("scratchy"))
    assert.same({"old"}, world:tags("scratch/sub"))
    world:image("scratch-other", {"t"}, OLD)
    local elsewhere = world:image("scratch-other", {"t"}, HOUR)   -- the first one dangles
    local other_before = world:state("scratch-other")

    -- --dangling plans exactly what --untagged-only plans
    local legacy_plan
    legacy_plan, status, err = recipe({"purge", "--registry", server.host, "--repository",
      "scratch", "--dangling", "--dry-run", "-o", "json"}, home)
    assert.equal(0, status, err)
    local current_plan = recipe({"purge", "--registry", server.host, "--filter", "scratch:.*",
      "--untagged-only", "--dry-run", "-o", "json"}, home)
    local cjson = require "cjson"
    assert.same(P.plan_shape(cjson.decode(current_plan)),
      P.plan_shape(cjson.decode(legacy_plan)))

    out, status, err = recipe({"purge", "--registry", server.host, "--repository", "scratch",
      "--dangling"}, home)
    assert.equal(0, status, err)
    assert.matches("regsh purge: --dangling is acr's 2019 name for --untagged-only\n", err, 1,
      true)
    assert.matches("Number of deleted tags: 0\nNumber of deleted manifests: 2\n$", out)
    assert.same({"multi", "new1", "new2"}, world:tags("scratch"))
    world:expect_gone("scratch", {scratch.old1, scratch.old2})
    for _, d in ipairs(children) do assert.truthy(reg:head("scratch", d)) end
    assert.same(other_before, world:state("scratch-other"))
    assert.truthy(elsewhere)
  end)

  it("--repository takes the name literally (regex-quoted)", function()
    tagged("lit/a.b", {old = OLD})
    tagged("lit/axb", {old = OLD})
    local _, status, err = recipe({"purge", "--repository", "lit/a.b", "--ago", "10d", "-r",
      server.host})
    assert.equal(0, status, err)
    assert.same({}, world:tags("lit/a.b"))
    assert.same({"old"}, world:tags("lit/axb"))
  end)

  it("--dangling never deletes a tag, even an old one with --ago", function()
    local repo, home = "dangle-ago", cmd.temp_name()
    tagged(repo, {old = OLD})
    local first = world:image(repo, {"t"}, OLD)
    local _, status, err = recipe({"purge", "-r", server.host, "--repository", repo,
      "--dangling", "--dry-run"}, home)   -- the store sees `first` tagged
    assert.equal(0, status, err)
    world:image(repo, {"t"}, OLD)        -- `first` dangles
    _, status, err = recipe({"purge", "-r", server.host, "--repository", repo, "--dangling",
      "--ago", "1d"}, home)
    assert.equal(0, status, err)
    assert.same({"old", "t"}, world:tags(repo))
    world:expect_gone(repo, {first})
  end)

  describe("a 2019 flag with its current twin", function()
    for _, case in ipairs({
      {{"--dangling", "--untagged"}, "--dangling and --untagged"},
      {{"--dangling", "--untagged-only"}, "--dangling and --untagged-only"},
      {{"--repository", "mix", "--filter", "mix:.*", "--ago", "0d"},
       "--repository and --filter"},
    }) do
      it(table.concat(case[1], " ") .. ": one line naming both, exit 2, nothing deleted",
          function()
        tagged("mix", {old = OLD})
        world:image("mix", {}, OLD)
        local before = state.snapshot(server)
        local args = {"purge", "-r", server.host}
        table.move(case[1], 1, #case[1], #args + 1, args)
        local out, status, err = recipe(args)
        assert.equal(2, status)
        assert.equal("", out)
        local first = err:match("^[^\n]*")
        assert.matches("^regsh purge: " .. case[2]:gsub("%p", "%%%0"), first)
        assert.same({first, "Try 'regsh purge --help'."}, P.lines(err))
        assert.same(before, state.snapshot(server))
      end)
    end
  end)
end)
