-- The demo's scripts (scripts/seed-registry, scripts/examples/*.lua) against a
-- real registry, so that what scripts/demo shows stays true.
local R = require "support.registry"
local cmd = require "support.cmd"

describe("the demo scripts", function()
  local r, reg

  local function tag_names(repo)
    local names = {}
    for _, t in ipairs(assert(reg:tags(repo))) do names[#names + 1] = t.name end
    table.sort(names)
    return table.concat(names, " ")
  end

  lazy_setup(function()
    r = R.start()
    reg = assert(regsh.registry.open(r.host, {log = function() end}))
    local out, status, err = cmd.regsh({"scripts/seed-registry", r.host})
    assert(status == 0, err)
    assert(out:match("seeded"), out)
  end)

  lazy_teardown(function() R.stop(r) end)

  it("seeds three repositories with tagged images", function()
    assert.same({"app/api", "app/web", "tools/lint"}, assert(reg:repositories()))
    assert.equal("dev-101 dev-102 dev-103 dev-104 dev-105 dev-106 latest v1.0.0 v1.1.0 v1.2.0",
      tag_names("app/web"))
    assert.equal(assert(reg:head("app/web", "v1.2.0")).digest, assert(reg:head("app/web", "latest")).digest)
  end)

  it("lists the inventory with ages", function()
    local out, status = cmd.regsh({"scripts/examples/inventory.lua", r.host, "^tools/"})
    assert.equal(0, status)
    assert.matches("^tools/lint\n  1%.0 +sha256:%x+ +90%.0 days\n$", out)
  end)

  it("purges in a dry run without changing anything, then for real", function()
    local before = tag_names("app/web")
    local out, status = cmd.regsh({"scripts/examples/autopurge.lua", r.host})
    assert.equal(0, status)
    assert.matches("5 tags and 5 manifests to delete in 2 repositories %(dry run", out)
    assert.equal(before, tag_names("app/web"))

    out, status = cmd.regsh({"scripts/examples/autopurge.lua", r.host, "--apply"})
    assert.equal(0, status)
    assert.matches("5 tag%(s%) and 5 manifest%(s%) deleted, 0 failed", out)
    -- dev tags older than 10 days go, but the newest two dev tags always stay
    assert.equal("dev-105 dev-106 latest v1.0.0 v1.1.0 v1.2.0", tag_names("app/web"))
    assert.equal("dev-8 dev-9 v2.0.0", tag_names("app/api"))
    assert.equal("1.0", tag_names("tools/lint"))

    -- a second run finds nothing left to do
    out, status = cmd.regsh({"scripts/examples/autopurge.lua", r.host, "--apply"})
    assert.equal(0, status)
    assert.matches("0 tag%(s%) and 0 manifest%(s%) deleted", out)
  end)
end)

describe("scripts/seed-registry HOST REPO:TAG:DAYS", function()
  it("adds those images with their ages; a malformed one is refused by name", function()
    local r = R.start()
    local out, status, err = cmd.regsh({"scripts/seed-registry", r.host, "scratch:build-1:30",
      "scratch:build-2:3"})
    assert.equal(0, status, err)
    assert.matches("with 17 images in 4 repositories", out, 1, true)
    out = cmd.regsh({"scripts/examples/inventory.lua", r.host, "^scratch"})
    R.stop(r)
    assert.matches("^scratch\n  build%-2 +sha256:%x+ +3%.0 days\n  build%-1 +sha256:%x+ +30%.0 days\n$",
      out)
    r = R.start()
    out, status, err = cmd.regsh({"scripts/seed-registry", r.host, "scratch:30"})
    local reg = assert(regsh.registry.open(r.host, {log = function() end}))
    local repositories = reg:repositories()
    R.stop(r)
    assert.equal(1, status, out)
    assert.matches("scratch:30: expected REPO:TAG:DAYS", err, 1, true)
    assert.same({}, repositories)
  end)
end)
