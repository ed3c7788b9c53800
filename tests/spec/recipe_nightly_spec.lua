-- The recipe's nightly task (issue 16 item 6) end to end: the regsh image
-- built and pushed as REGISTRY/acr by scripts/image, the task created with the
-- recipe's exact command line through a real shell, run by hand in podman
-- against a loopback registry, listed as Succeeded, and the old tags of
-- scratch gone while the new ones stay.
local cmd = require "support.cmd"
local fs = require "regsh.fs"
local json = require "regsh.json"
local podman = require "support.podman"
local purge = require "support.purge"
local registry = require "support.registry"

-- the recipe's line, `az acr` -> `regsh`; HOST and STATE are filled in
local CREATE = [[regsh task create --name purgetask --registry HOST --context /dev/null ]]
  .. [[--cmd "{{.Run.Registry}}/acr purge --repository "scratch" --ago 10d -r {{.Run.Registry}}" ]]
  .. [[--schedule "0 10 * * *" --state STATE]]

describe("the recipe's nightly purge task", function()
  local server, world, dir, state, bin_dir

  setup(function()
    require("support.images").require_podman()
    server = registry.start()
    world = purge.world(assert(regsh.registry.open(server.host)), server)
    dir = assert(fs.temp_dir("regsh-nightly"))
    state = dir .. "/state"
    -- `regsh` on PATH for the shell, as the recipe's author has it
    bin_dir = dir .. "/bin"
    assert(fs.mkdir(bin_dir))
    local _, ok = cmd.sh("ln -s " .. cmd.quote(os.getenv("REGSH_BIN")) .. " " .. bin_dir .. "/regsh")
    assert.equal(0, ok)
    local out, status, err = cmd.sh("CONTAINERS_CONF=" .. cmd.quote(podman.CONTAINERS_CONF)
      .. " REGSH_BUILD=" .. cmd.quote(os.getenv("REGSH_BIN"):match("^(.*)/[^/]*$"))
      .. " scripts/image --tag localhost/regsh-nightly-spec:latest --push "
      .. server.host .. "/acr")
    assert.equal(0, status, out .. err)
  end)

  teardown(function()
    if server then
      pcall(podman.run, "rmi", "-f", server.host .. "/acr")
      registry.stop(server)
    end
    if dir then fs.remove_tree(dir) end
  end)

  local function sh(line)
    return cmd.sh("PATH=" .. bin_dir .. ":$PATH CONTAINERS_CONF="
      .. cmd.quote(podman.CONTAINERS_CONF) .. " " .. line)
  end

  it("is created as written, runs in podman against the loopback registry, and purges", function()
    for _, t in ipairs({"old1", "old2"}) do world:image("scratch", {t}, 20 * purge.DAY) end
    for _, t in ipairs({"new1", "new2"}) do world:image("scratch", {t}, purge.DAY) end
    world:image("keepme", {"old"}, 20 * purge.DAY)   -- another repository: not named
    assert.same({"new1", "new2", "old1", "old2"}, world:tags("scratch"))

    local line = CREATE:gsub("HOST", server.host):gsub("STATE", cmd.quote(state))
    local out, status, err = sh(line)
    assert.equal(0, status, err)
    local created = assert(json.decode(out))
    -- the shell joined the nested quotes: the cmd as the recipe's author got it
    assert.equal("{{.Run.Registry}}/acr purge --repository scratch --ago 10d -r {{.Run.Registry}}",
      created.cmd)
    assert.equal(server.host, created.registry)

    out, status, err = sh("regsh task show purgetask --state " .. cmd.quote(state))
    assert.equal(0, status, err)
    assert.matches("0 10 * * *", out, 1, true)
    local nexts = 0
    for _ in out:gmatch("next: %d%d%d%d%-%d%d%-%d%dT10:00:00Z") do nexts = nexts + 1 end
    assert.is_true(nexts >= 1, out)

    out, status, err = sh("regsh task run purgetask --state " .. cmd.quote(state))
    assert.equal(0, status, out .. err)

    out, status, err = sh("regsh task list-runs --state " .. cmd.quote(state))
    assert.equal(0, status, err)
    local rows = {}
    for row in out:gmatch("[^\n]+") do rows[#rows + 1] = row end
    assert.equal(3, #rows, out)   -- the header, its rule and the one run
    assert.matches("^%S+%s+purgetask%s+%S+%s+Succeeded%s+Manual%s", rows[3])

    assert.same({"new1", "new2"}, world:tags("scratch"))
    assert.same({"old"}, world:tags("keepme"))
    assert.same({}, podman.leftovers("regsh.task=purgetask"))
  end)
end)
