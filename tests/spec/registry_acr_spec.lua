-- ACR extras through tests/support/acr_fixture.py. That server is a FIXTURE,
-- NOT ACR: there is no ACR offline; it serves the JSON shapes documented for
-- /acr/v1 and /oauth2 (shared purge.md §1.8-1.9) and enough of /v2 for the
-- client, with ACR's scopes, opaque timedesc cursors given only in Link
-- headers, and 405 on locked items.
local registry = require "regsh.registry"
local loop = require "regsh.core.loop"
local servers = require "support.servers"
local content = require "support.content"

local COUNT = 230  -- tags (and manifests) in "app": 5 pages of 50

local function updated(e) return e.updated or e.lastUpdateTime end
local function created(e) return e.created or e.createdTime end
local function attributes(e) return e.attributes or e.changeableAttributes end

describe("ACR metadata API (fixture, not ACR)", function()
  local acr

  local function open(opts)
    local o = {username = servers.NULL_GUID, password = acr.refresh_token, acr = true,
               page_size = 50}
    for k, v in pairs(opts or {}) do o[k] = v end
    return registry.open(acr.host, o)
  end

  setup(function()
    acr = servers.acr_fixture{user = "admin:adm1n-pass"}
    assert.equal(COUNT, acr:seed{repo = "app", count = COUNT})
    acr:seed{repo = "locks", tags = {
      {name = "a", time = 1700000000, manifest = "m1"},
      {name = "b", time = 1700000100, manifest = "m1"},
      {name = "c", time = 1700000200, manifest = "m2"},
    }}
    acr:seed{repo = "del", count = 6}
  end)

  teardown(function() servers.stop(acr) end)

  it("lists tags with digests, created/updated times and lock attributes", function()
    local r = open()
    local tags = assert(r:acr_tags("app"))
    assert.equal(COUNT, #tags)
    local state = acr:repo("app").tags
    local seen = content.count_by(tags, "name")
    for _, t in ipairs(tags) do
      assert.equal(1, seen[t.name], t.name)
      local s = state[t.name]
      assert.is_table(s, t.name)
      assert.equal(s.digest, t.digest)
      assert.equal(s.lastUpdateTime, updated(t))
      assert.equal(s.createdTime, created(t))
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d+Z$", updated(t))
      assert.is_true(attributes(t).deleteEnabled)
    end
  end)

  it("pages orderby=timedesc by the opaque Link cursors to the end", function()
    local r = open()
    local tags = assert(r:acr_tags("app", {orderby = "timedesc"}))
    assert.equal(COUNT, #tags)
    assert.same(COUNT, (function() local n = 0; for _ in pairs(content.count_by(tags, "name")) do
      n = n + 1 end; return n end)())
    for i = 2, #tags do
      assert.is_true(updated(tags[i - 1]) >= updated(tags[i]),
        "not newest first at " .. i .. ": " .. updated(tags[i - 1]) .. " < " .. updated(tags[i]))
    end
    -- the fixture's order is not the name order, so a name cursor would not work
    assert.is_not.equal("v000", tags[1].name)
    local pages = acr:log("^/acr/v1/app/_tags%?")
    local cursors = 0
    for _, e in ipairs(pages) do
      assert.equal(200, e.status, e.path)
      if e.path:find("orderby=timedesc", 1, true) and e.path:find("last=%d+%%26") then
        cursors = cursors + 1
      end
    end
    assert.is_true(cursors >= 4, "followed " .. cursors .. " opaque cursors (want 4 for 5 pages)")
  end)

  it("lists manifests with tags, sizes and attributes", function()
    local r = open()
    local ms = assert(r:acr_manifests("app"))
    assert.equal(COUNT, #ms)
    local state = acr:repo("app").manifests
    for _, m in ipairs(ms) do
      local s = state[m.digest]
      assert.is_table(s, m.digest)
      assert.equal(1, #m.tags)
      assert.equal(s.imageSize, m.size or m.imageSize)
      assert.equal(s.lastUpdateTime, updated(m))
      assert.equal("amd64", m.architecture)
    end
  end)

  it("lists manifests oldest or newest first with orderby, across every page", function()
    local r = open()
    for _, order in ipairs{"timeasc", "timedesc"} do
      local ms = assert(r:acr_manifests("app", {orderby = order}))
      assert.equal(COUNT, #ms)
      for i = 2, #ms do
        local a, b = updated(ms[i - 1]), updated(ms[i])
        if order == "timeasc" then a, b = b, a end
        assert.is_true(a >= b, order .. " out of order at " .. i .. ": " .. a .. ", " .. b)
      end
    end
    -- every page was asked for in that order, not only the first (5 pages each)
    local later = 0
    for _, e in ipairs(acr:log("^/acr/v1/app/_manifests%?")) do
      if e.path:find("orderby=time[ad]") and e.path:find("last=", 1, true) then
        later = later + 1
      end
    end
    assert.is_true(later >= 8, later .. " later pages in order")
  end)

  it("reports tags through reg:tags with times when the registry is ACR", function()
    local r = open()
    local tags = assert(r:tags("locks"))
    assert.equal(3, #tags)
    for _, t in ipairs(tags) do
      assert.is_string(t.digest, t.name)
      assert.is_string(updated(t), t.name)
    end
  end)

  it("untags through DELETE /acr/v1/<repo>/_tags/<tag> and keeps the manifest", function()
    local r = open()
    local before = acr:repo("del")
    local digest = before.tags.v2.digest
    assert.is_true(r:untag("del", "v2"))
    local after = acr:repo("del")
    assert.is_nil(after.tags.v2)
    assert.is_table(after.manifests[digest])
    assert.equal(5, #assert(r:tags("del")))
    local deletes = acr:log("^/acr/v1/del/_tags/v2$")
    assert.equal("DELETE", deletes[#deletes].method)
    -- already gone counts as done
    assert.is_true(r:untag("del", "v2"))
  end)

  it("locks and unlocks a tag and a manifest with PATCH", function()
    local r = open()
    assert.is_true(r:lock("locks", "a", {deleteEnabled = false, writeEnabled = false}))
    local s = acr:repo("locks")
    assert.is_false(s.tags.a.changeableAttributes.deleteEnabled)
    assert.is_false(s.tags.a.changeableAttributes.writeEnabled)
    assert.is_true(s.tags.a.changeableAttributes.readEnabled)
    local tags = assert(r:acr_tags("locks"))
    assert.equal(3, #tags)
    for _, t in ipairs(tags) do
      -- locked: deleteEnabled or writeEnabled cleared; only "a" is
      assert.equal(t.name == "a", t.locked, t.name)
      assert.equal(t.name ~= "a", attributes(t).deleteEnabled, t.name)
    end
    -- a locked tag is not untagged (ACR answers 405), and the error says so
    local ok, err, code = r:untag("locks", "a")
    assert.is_nil(ok)
    assert.equal("ENOTSUP", code, err)
    assert.matches("^ENOTSUP: untag 127%.0%.0%.1:%d+/locks:a: ", err)
    assert.matches("tag a is locked", err, 1, true)
    assert.is_table(acr:repo("locks").tags.a)
    assert.is_true(r:lock("locks", "a", {deleteEnabled = true, writeEnabled = true}))
    assert.is_true(acr:repo("locks").tags.a.changeableAttributes.deleteEnabled)
    -- by digest: the manifest's attributes
    local digest = s.tags.c.digest
    assert.is_true(r:lock("locks", digest, {deleteEnabled = false}))
    assert.is_false(acr:repo("locks").manifests[digest].changeableAttributes.deleteEnabled)
    local ms = assert(r:acr_manifests("locks"))
    assert.equal(2, #ms)
    for _, m in ipairs(ms) do assert.equal(m.digest == digest, m.locked, m.digest) end
    local gone, derr, dcode = r:delete("locks", digest)
    assert.is_nil(gone)
    assert.equal("ENOTSUP", dcode, derr)
    assert.matches("locks@" .. digest, derr, 1, true)
    assert.matches("manifest " .. digest .. " is locked", derr, 1, true)
    assert.is_table(acr:repo("locks").manifests[digest])
  end)

  it("refuses untag and lock in dry-run mode and changes nothing", function()
    local r = open{dry_run = true}
    local ok, err, code = r:untag("del", "v3")
    assert.is_nil(ok)
    assert.equal("EDRYRUN", code, err)
    ok, err, code = r:lock("del", "v3", {writeEnabled = false})
    assert.is_nil(ok)
    assert.equal("EDRYRUN", code, err)
    local s = acr:repo("del")
    assert.is_table(s.tags.v3)
    assert.is_true(s.tags.v3.changeableAttributes.writeEnabled)
    assert.equal(0, #acr:log("^/acr/v1/del/_tags/v3$"))
  end)

  it("exchanges the refresh token of the null-GUID user with POST /oauth2/token", function()
    acr:reset_stats()
    local r = open()
    assert.equal(3, #assert(r:acr_tags("locks")))
    local stats = acr:stats()
    assert.is_true((stats.grants.refresh_token or 0) >= 1)
    assert.is_nil(stats.grants.password)
    local posts = 0
    for _, e in ipairs(acr:log("^/oauth2/token")) do
      if e.method == "POST" then posts = posts + 1 end
    end
    assert.is_true(posts >= 1)
  end)

  it("reuses the access token across many calls", function()
    local r = open()
    assert(r:acr_tags("locks"))
    acr:reset_stats()
    for _ = 1, 10 do assert(r:acr_tags("locks")) end
    assert.is_true((acr:stats().grants.refresh_token or 0) <= 1)
  end)

  it("fails fast with EAUTH on a bad refresh token, without leaking it", function()
    acr:reset_stats()
    local r = open{password = "not-the-refresh-token", retries = 4}
    local t0 = loop.monotonic()
    local res, err, code = r:acr_tags("locks")
    assert.is_nil(res)
    assert.equal("EAUTH", code, err)
    assert.is_true(loop.monotonic() - t0 < 2)
    assert.equal(1, acr:stats().denied)
    assert.is_nil(err:find("not-the-refresh-token", 1, true))
  end)

  it("uses admin Basic credentials on GET /oauth2/token", function()
    acr:reset_stats()
    local r = open{username = "admin", password = "adm1n-pass"}
    assert.equal(3, #assert(r:acr_tags("locks")))
    assert.is_true((acr:stats().grants.password or 0) >= 1)
  end)

  it("reads a manifest through /v2 with the ACR token", function()
    local r = open()
    local s = acr:repo("locks")
    local m = assert(r:manifest("locks", "b"))
    assert.equal(s.tags.b.digest, m.digest)
    assert.equal(content.OCI_MANIFEST, m.media_type)
    local cfg = assert(r:config("locks", m))
    assert.equal("linux", cfg.os)
  end)
end)
