-- regsh purge against a registry that changes under it: a tag deleted
-- between the listing and its HEAD, a manifest gone before its GET. The run
-- plans around them (acr-cli #459: one 404 aborted the whole purge) instead
-- of failing the repository.
local servers = require "support.servers"
local content = require "support.content"
local registry = require "regsh.registry"

describe("regsh.purge with a registry that changes under it", function()
  local reg, fp, client

  local function quiet() end

  lazy_setup(function()
    reg, fp = servers.proxied_registry()
    client = assert(registry.open(reg.host, {log = quiet}))
  end)

  lazy_teardown(function() servers.stop_all(fp, reg) end)

  before_each(function() fp:clear() end)

  local function old_image(repo, tag, label)
    return (content.push_image(client, repo, tag,
      {label = label or tag, created = "2020-01-01T00:00:00Z"}))
  end

  local function plan(repo, store)
    local through = assert(registry.open(fp.host, {log = quiet, dry_run = true}))
    return require("regsh.purge").plan(through, {filter = {repo .. ":.*"}, ago = "1d",
      untagged = true}, {store = store or assert(regsh.store.open(":memory:")),
      repositories = {repo}})
  end

  it("skips a tag that is gone by the time of its HEAD or GET", function()
    old_image("race/tag", "stays")
    old_image("race/tag", "vanished")
    local gone = '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
    fp:add{action = "status", status = 404, match = "/race/tag/manifests/vanished$",
           body = gone, times = -1}
    local p = assert(plan("race/tag"))
    assert.same({}, p.errors)
    local r = p.repositories[1]
    assert.equal(1, r.tags)
    assert.same({"stays"}, r.actions[1].tags)
  end)

  it("plans a manifest gone before its GET without failing the repository", function()
    -- a store that knows the repository: tags are HEADed, new digests GET by digest
    local store = assert(regsh.store.open(":memory:"))
    old_image("race/manifest", "v2")
    assert(plan("race/manifest", store))
    local d = old_image("race/manifest", "v1")
    local gone = '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
    -- the HEAD by tag still answers; the GET of its digest finds nothing
    fp:add{action = "status", status = 404, method = "GET",
           match = "/race/manifest/manifests/" .. d, body = gone, times = -1}
    local p = assert(plan("race/manifest", store))
    assert.same({}, p.errors)
    -- what cannot be read has no `created`: its age is from first seen (now), never old
    assert.equal(1, p.repositories[1].tags)
    assert.same({"v2"}, p.repositories[1].actions[1].tags)
    assert.equal(1, #fp:log("/race/manifest/manifests/" .. d))
  end)
end)
