-- The purge engine on ACR's extras through tests/support/acr_fixture.py (a
-- FIXTURE, NOT ACR): lastUpdateTime orders --keep and ages --ago; locked
-- tags stay (the plan says why) unless include_locked, which unlocks (PATCH)
-- then deletes; tags go through ACR's tag API; untagged_only deletes what
-- /acr/v1/<repo>/_manifests lists without tags. The CLI has no way to say a
-- loopback registry is an ACR, so these run regsh.purge.plan from a script.
local servers = require "support.servers"
local cmd = require "support.cmd"
local engine = require "regsh.purge"
local registry = require "regsh.registry"
local cjson = require "cjson"

local NOW = 1800000000
local DAY = 86400

describe("regsh.purge on an ACR (fixture, not ACR)", function()
  local acr

  local function open()
    return assert(registry.open(acr.host, {username = servers.NULL_GUID,
      password = acr.refresh_token, acr = true}))
  end

  local function plan(flags, opts)
    opts = opts or {}
    opts.store = assert(require("regsh.store").open(cmd.temp_name()))
    opts.now = NOW
    return assert(engine.plan(open(), flags, opts))
  end

  local function names(p, op)
    local out = {}
    for _, r in ipairs(p.repositories) do
      for _, a in ipairs(r.actions) do
        if a.op == op then out[#out + 1] = a.tag or a.digest end
      end
    end
    table.sort(out)
    return out
  end

  setup(function()
    acr = servers.acr_fixture{}
    -- name order is not time order: c is the newest, a the oldest but one
    acr:seed{repo = "order", tags = {
      {name = "a", time = NOW - 30 * DAY, manifest = "ma"},
      {name = "b", time = NOW - 40 * DAY, manifest = "mb"},
      {name = "c", time = NOW - 12 * DAY, manifest = "mc"},
      {name = "d", time = NOW - 20 * DAY, manifest = "md"},
      {name = "e", time = NOW - 2 * DAY, manifest = "me"},
    }}
  end)

  teardown(function() servers.stop(acr) end)

  it("orders --keep and ages --ago by lastUpdateTime", function()
    local p = plan({filter = {"order:.*"}, ago = "10d", keep = 1})
    -- older than 10 days: a, b, c, d; the newest of them (c) kept; e too young
    assert.same({"a", "b", "d"}, names(p, "untag"))
    for _, a in ipairs(p.repositories[1].actions) do assert.equal("updated", a.time_source) end
    assert.same({"a", "b"}, names(plan({filter = {"order:.*"}, ago = "25d"}), "untag"))
  end)

  it("keeps locked tags, says why, and with include_locked unlocks then deletes", function()
    acr:seed{repo = "locked", tags = {
      {name = "old1", time = NOW - 30 * DAY, manifest = "m1"},
      {name = "old2", time = NOW - 30 * DAY, manifest = "m2"},
    }}
    assert(open():lock("locked", "old1", {deleteEnabled = false, writeEnabled = false}))
    local flags = {filter = {"locked:.*"}, ago = "1d", include_locked = false}
    local p = plan(flags, {include_locked = false})
    assert.same({"old2"}, names(p, "untag"))
    -- acr-purge does not count locked tags for --keep, but hands them to the
    -- engine, whose plan says they were kept as locked
    local flags_kept = cjson.decode(p:json()).repositories[1].kept
    assert.equal(1, #flags_kept)
    assert.equal("old1", flags_kept[1].tag)
    assert.matches("^locked", flags_kept[1].reason)
    -- so does any policy that selects a locked tag
    local own = plan({select = function(repo) return repo.tags end},
      {repositories = {"locked"}})
    assert.same({"old2"}, names(own, "untag"))
    local kept = cjson.decode(own:json()).repositories[1].kept
    assert.equal(1, #kept)
    assert.equal("old1", kept[1].tag)
    assert.matches("^locked", kept[1].reason)

    flags.include_locked = true
    p = plan(flags, {include_locked = true})
    assert.same({"old1", "old2"}, names(p, "untag"))
    local result = assert(p:apply{concurrency = 1})
    assert.same({}, result.failed)
    assert.equal(2, result.tags)
    assert.same({}, acr:repo("locked").tags)
    -- the unlock came first, and the tags went through ACR's tag API
    local log = acr:log("^/acr/v1/locked/_tags/old1")
    local methods = {}
    for _, e in ipairs(log) do
      if e.method ~= "GET" then methods[#methods + 1] = string.format("%s %d", e.method, e.status) end
    end
    -- the first PATCH is this spec's lock
    assert.same({"PATCH 200", "PATCH 200", "DELETE 202"}, methods)
  end)

  it("deletes what _manifests lists untagged with untagged_only, and no tag", function()
    acr:seed{repo = "loose", tags = {
      {name = "gone", time = NOW - 30 * DAY, manifest = "m1"},
      {name = "kept", time = NOW - 30 * DAY, manifest = "m2"},
    }}
    local before = acr:repo("loose")
    local loose = before.tags.gone.digest
    assert(open():untag("loose", "gone"))
    local p = plan({untagged_only = true, filter = {"loose:.*"}})
    assert.same({loose}, names(p, "delete"))
    assert.same({}, names(p, "untag"))
    assert.same({tags = 0, manifests = 1, failed = {}, deferred = 0},
      assert(p:apply{concurrency = 2}))
    local after = acr:repo("loose")
    assert.is_nil(after.manifests[loose])
    assert.equal(before.tags.kept.digest, after.tags.kept.digest)
    assert.is_table(after.manifests[before.tags.kept.digest])
  end)
end)
