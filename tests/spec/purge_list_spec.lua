-- regsh.purge.list: every List method, that none changes its receiver, that
-- orders are deterministic (ties by name/digest, entries without time last)
-- and that ages count from the list's now.
local List = require "regsh.purge.list"

local NOW = 1700000000
local DAY = 86400

local function tag(name, time, extra)
  local e = {kind = "tag", name = name, time = time, media_type = "application/vnd.oci.image.manifest.v1+json"}
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

local function manifest(hex, tags, time)
  return {kind = "manifest", digest = "sha256:" .. hex, tags = tags or {}, time = time,
          media_type = "application/vnd.oci.image.manifest.v1+json"}
end

local function names(list) return table.concat(list:names(), " ") end

describe("regsh.purge.list", function()
  local tags
  before_each(function()
    tags = List.new({
      tag("v1.0.0", NOW - 30 * DAY), tag("dev-2", NOW - 2 * DAY), tag("latest", NOW),
      tag("dev-1", NOW - 2 * DAY), tag("notime"), tag("v1.10.0", NOW - 10 * DAY),
    }, NOW)
  end)

  it("new copies its array, carries now, and is recognised by is", function()
    local array = {tag("a", 1)}
    local l = List.new(array, NOW)
    array[2] = tag("b", 2)
    assert.equal(1, #l)
    assert.equal(NOW, l.now)
    assert.is_true(List.is(l))
    assert.is_false(List.is(array))
    assert.is_false(List.is(nil))
    local n = 0
    for i, e in ipairs(l) do n = n + 1; assert.equal(array[i], e) end
    assert.equal(1, n)
    assert.has_error(function() List.new("x") end)
  end)

  it("match and exclude search names with PCRE2, manifests by any tag", function()
    assert.equal("dev-2 dev-1", names(tags:match("^dev-\\d")))
    assert.equal("v1.0.0 latest notime v1.10.0", names(tags:exclude("^dev-")))
    assert.equal("v1.0.0 v1.10.0", names(tags:match("(?<=v1\\.)\\d")))  -- lookbehind, unanchored
    local ms = List.new({manifest("aa", {"x", "prod-1"}), manifest("bb", {}), manifest("cc", {"y"})}, NOW)
    assert.equal("sha256:aa", names(ms:match("^prod")))
    assert.equal("sha256:bb sha256:cc", names(ms:exclude("^prod")))
  end)

  it("match raises naming a bad regex", function()
    local ok, err = pcall(function() return tags:match("[") end)
    assert.is_false(ok)
    assert.matches("match: EREGEX: %[: missing terminating %]", err)
    ok, err = pcall(function() return tags:exclude("(x") end)
    assert.is_false(ok)
    assert.matches("exclude: EREGEX: %(x:", err)
  end)

  it("older_than: time known and strictly before now - age; 0d is every known time", function()
    assert.equal("v1.0.0 v1.10.0", names(tags:older_than("3d")))
    -- the boundary: exactly two days old is not older than 2d
    assert.equal("v1.0.0 v1.10.0", names(tags:older_than("2d")))
    assert.equal("v1.0.0 dev-2 dev-1 v1.10.0", names(tags:older_than(2 * DAY - 1)))
    assert.equal("v1.0.0 dev-2 latest dev-1 v1.10.0", names(tags:older_than("0d")))
    assert.equal("v1.0.0", names(tags:older_than("10d")))
    assert.equal(0, #tags:older_than("100d"))
  end)

  it("newer_than: time known and at or after now - age", function()
    assert.equal("dev-2 latest dev-1", names(tags:newer_than("2d")))
    assert.equal("latest", names(tags:newer_than(0)))
    assert.equal("dev-2 latest dev-1 v1.10.0", names(tags:newer_than("10d")))
  end)

  it("ages need a now and a valid duration", function()
    assert.has_error(function() List.new({tag("a", 1)}):older_than("1d") end)
    local ok, err = pcall(function() return tags:older_than("1x") end)
    assert.is_false(ok)
    assert.matches("older_than: EDURATION", err)
    assert.has_error(function() tags:newer_than(-1) end)
  end)

  it("where and media_type filter", function()
    assert.equal("notime", names(tags:where(function(e) return e.time == nil end)))
    local mixed = List.new({tag("a", 1, {media_type = "x"}), tag("b", 1, {media_type = "y"}),
                            tag("c", 1, {media_type = "z"})}, NOW)
    assert.equal("a c", names(mixed:media_type("x", "z")))
    assert.equal(0, #mixed:media_type())
  end)

  it("sort_by_time: newest first, ties by name, no time last", function()
    assert.equal("latest dev-1 dev-2 v1.10.0 v1.0.0 notime", names(tags:sort_by_time()))
    local ms = List.new({manifest("cc", {}, 5), manifest("aa", {}, 5), manifest("bb", {}),
                         manifest("ab", {})}, NOW)
    assert.equal("sha256:aa sha256:cc sha256:ab sha256:bb", names(ms:sort_by_time()))
  end)

  it("sort_by_semver: highest first, non-versions last by name, manifests by their highest tag", function()
    local l = List.new({tag("latest"), tag("1.2"), tag("v1.10.0"), tag("1.2.0-rc.1"), tag("abc"),
                        tag("v1.9.9")}, NOW)
    assert.equal("v1.10.0 v1.9.9 1.2 1.2.0-rc.1 abc latest", names(l:sort_by_semver()))
    local ms = List.new({manifest("aa", {"v1.0.0", "latest"}), manifest("bb", {"v0.9.0", "v2.0.0"}),
                         manifest("cc", {"edge"})}, NOW)
    assert.equal("sha256:bb sha256:aa sha256:cc", names(ms:sort_by_semver()))
    -- the same version twice: by name
    assert.equal("1.0.0 v1.0.0", names(List.new({tag("v1.0.0"), tag("1.0.0")}, NOW):sort_by_semver()))
  end)

  it("newest, oldest, first, skip", function()
    assert.equal("latest dev-1", names(tags:newest(2)))
    assert.equal("notime v1.0.0", names(tags:oldest(2)))
    assert.equal(6, #tags:oldest(10))
    assert.equal("v1.0.0 dev-2", names(tags:first(2)))
    assert.equal("dev-1 notime v1.10.0", names(tags:skip(3)))
    assert.equal(0, #tags:skip(10))
    assert.equal(0, #tags:first(0))
    assert.has_error(function() tags:first(-1) end)
    assert.has_error(function() tags:skip("2") end)
  end)

  it("group: key -> List in order, nil key left out", function()
    local groups = tags:group(function(e) return e.name:match("^(%a+)%-") end)
    assert.equal("dev-2 dev-1", names(groups.dev))
    assert.is_true(List.is(groups.dev))
    assert.equal(NOW, groups.dev.now)
    local n = 0
    for _ in pairs(groups) do n = n + 1 end
    assert.equal(1, n)
  end)

  it("union keeps first occurrences; minus removes by name/digest", function()
    local a, b = tags:match("^dev"), tags:match("^v|dev-1")
    assert.equal("dev-2 dev-1 v1.0.0 v1.10.0", names(a:union(b)))
    assert.equal("dev-2 dev-1", names(a:union()))
    assert.equal("dev-2", names(a:minus(b)))
    assert.equal("v1.0.0 v1.10.0", names(b:minus(a)))
    -- a copy of an entry (same name) counts as the same entry
    assert.equal("dev-1", names(a:minus({tag("dev-2")})))
    assert.equal(NOW, a:union(b).now)
  end)

  it("never changes the receiver or its entries", function()
    local before = names(tags)
    tags:sort_by_time(); tags:sort_by_semver(); tags:skip(2); tags:oldest(3)
    tags:match("dev"); tags:union(tags:match("v")); tags:minus(tags:first(1))
    assert.equal(before, names(tags))
    assert.is_nil(tags[1].reason)
    local sorted = tags:sort_by_time()
    assert.are_not.equal(tags, sorted)
    assert.equal(tags[3], sorted[1])  -- the same entry tables, not copies
  end)

  it("every method passes now on", function()
    for _, l in ipairs({tags:match("."), tags:exclude("x"), tags:older_than(1), tags:newer_than(1),
        tags:where(function() return true end), tags:media_type("x"), tags:sort_by_time(),
        tags:sort_by_semver(), tags:newest(1), tags:oldest(1), tags:skip(1), tags:first(1),
        tags:union(), tags:minus({})}) do
      assert.equal(NOW, l.now)
      assert.is_true(List.is(l))
    end
  end)
end)
