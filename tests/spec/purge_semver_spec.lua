-- regsh.purge.semver: what tags count as versions, and SemVer 2.0 precedence.
local semver = require "regsh.purge.semver"

describe("regsh.purge.semver", function()
  it("parses versions as tags spell them", function()
    local v = semver.parse("v1.2.3")
    assert.same({major = 1, minor = 2, patch = 3, prerelease = {}, text = "v1.2.3"}, v)
    assert.same({1, 2, 0}, {semver.parse("1.2").major, semver.parse("1.2").minor, semver.parse("1.2").patch})
    v = semver.parse("1.2.3-rc.1+build.5")
    assert.same({"rc", "1"}, v.prerelease)
    assert.equal("build.5", v.build)
    assert.equal(3, v.patch)
    assert.equal("integer", math.type(semver.parse("V10.20.30").major))
    assert.equal(10, semver.parse("V10.20.30").major)
    assert.same({"alpha-1"}, semver.parse("1.0.0-alpha-1").prerelease)
  end)

  it("returns nil for what is not a version", function()
    for _, s in ipairs({"latest", "7", "20240101", "1.2.3.4", "v", "1..2", "1.2.3-", "1.2.3+",
        "1.2.3-a..b", "1.2.3-a_b", "x1.2.3", "1.2.3 ", "1.2.x", "1234567890123456.0.0", ""}) do
      assert.is_nil(semver.parse(s), s)
    end
    assert.is_nil(semver.parse(nil))
    assert.is_nil(semver.parse(12))
  end)

  it("orders by SemVer 2.0 precedence", function()
    local order = {"0.9.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
      "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2", "1.10.0", "2.0.0"}
    for i = 1, #order - 1 do
      assert.equal(-1, semver.compare(order[i], order[i + 1]), order[i] .. " < " .. order[i + 1])
      assert.equal(1, semver.compare(order[i + 1], order[i]), order[i + 1] .. " > " .. order[i])
    end
    assert.equal(0, semver.compare("v1.0.0+a", "1.0.0+b"))  -- build metadata is ignored
    assert.equal(0, semver.compare("1.2", "1.2.0"))
    assert.equal(-1, semver.compare("1.0.0-2", "1.0.0-10"))  -- numeric identifiers as numbers
    assert.equal(-1, semver.compare("1.0.0-99", "1.0.0-a"))  -- numeric below alphanumeric
    assert.equal(1, semver.compare(semver.parse("2.0.0"), "1.99.99"))
  end)

  it("compare raises naming a non-version", function()
    local ok, err = pcall(semver.compare, "latest", "1.0.0")
    assert.is_false(ok)
    assert.matches('"latest" is not a version', err)
    assert.has_error(function() semver.compare("1.0.0", {}) end)
  end)

  it("is_prerelease", function()
    assert.is_true(semver.is_prerelease("1.0.0-rc.1"))
    assert.is_false(semver.is_prerelease("1.0.0+build"))
    assert.is_false(semver.is_prerelease("latest"))
  end)
end)
