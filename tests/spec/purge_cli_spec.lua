-- `regsh purge` with acr purge's flags, run as a command against a real
-- docker-registry (distribution 2.8) on 127.0.0.1: filters (repository part
-- anchored, tag part searched, lookarounds, `:` inside groups and classes,
-- several OR-ed), --ago around its cutoff and its cap, --keep, --keep-newest,
-- --exclude, --keep-semver, --shard, --max-deletes, a registry that refuses
-- deletes, acr's closing lines, and bad input: one line naming it, exit 2,
-- nothing deleted. Every test asserts the exact registry state after.
local registry = require "regsh.registry"
local regs = require "support.registry"
local cmd = require "support.cmd"
local P = require "support.purge"

local HOUR, DAY = P.HOUR, P.DAY
local OLD, NEW = 10 * DAY + 6 * HOUR, 10 * DAY - 6 * HOUR   -- either side of --ago 10d

local function quiet() end

describe("regsh purge (flags)", function()
  local server, reg, world

  setup(function()
    server = regs.start{}
    reg = assert(registry.open(server.host, {log = quiet}))
    world = P.world(reg, server)
  end)

  teardown(function() regs.stop(server) end)

  -- regsh purge on this registry with a fresh state store
  local function purge(args, state)
    return P.run(server.host, state or cmd.temp_name(), args)
  end

  -- images (each its own digest) in repo, {tag = age}; returns {tag = digest}
  local function images(repo, ages)
    local names = {}
    for name in pairs(ages) do names[#names + 1] = name end
    table.sort(names)
    local out = {}
    for _, name in ipairs(names) do out[name] = world:image(repo, {name}, ages[name]) end
    return out
  end

  -- the tags of repo are exactly `tags`; the digests of `gone` are gone, the rest there
  local function expect(repo, tags, gone)
    assert.same(tags, world:tags(repo))
    world:expect_gone(repo, gone or {})
  end

  describe("filters", function()
    it("anchors the repository part and searches the tag part", function()
      local app = images("f1/app", {["dev-1"] = OLD, v1 = OLD})
      local web = images("f1/app/web", {["dev-2"] = OLD})
      local out, status, err = purge({"--filter", "f1/app:ev", "--ago", "1d", "--untagged"})
      assert.equal(0, status, err)
      assert.matches("Number of deleted tags: 1\nNumber of deleted manifests: 1\n$", out)
      expect("f1/app", {"v1"}, {app["dev-1"]})
      expect("f1/app/web", {"dev-2"})
      -- .*/web matches the whole name f1/app/web; without --untagged only the tag goes
      out, status, err = purge({"--filter", ".*/web:dev", "--ago", "1d"})
      assert.equal(0, status, err)
      assert.matches("Number of deleted tags: 1\nNumber of deleted manifests: 0\n$", out)
      expect("f1/app/web", {})
      assert.truthy(web["dev-2"])
      expect("f1/app", {"v1"}, {app["dev-1"]})
    end)

    it("honours a negative lookahead", function()
      local d = images("f2/app", {v1 = OLD, v2 = OLD, ["dev-1"] = OLD, latest = OLD, vx = OLD})
      local _, status, err = purge({"--filter", [[f2/app:^(?!v\d).*]], "--ago", "0d"})
      assert.equal(0, status, err)
      expect("f2/app", {"v1", "v2"})
      assert.truthy(d.vx)
    end)

    it("does not split on ':' inside (?:...) or [[:alpha:]]", function()
      local app = images("f3/app", {["dev-1"] = OLD, ["tmp-2"] = OLD, ["rel-3"] = OLD, v1 = OLD})
      local api = images("f3/api", {["dev-1"] = OLD})
      images("f3/x9", {["dev-1"] = OLD})
      local _, status, err = purge({"--filter", "f3/(?:app|api):^(?:dev|tmp)-", "--ago", "1d"})
      assert.equal(0, status, err)
      expect("f3/app", {"rel-3", "v1"})
      expect("f3/api", {})
      assert.truthy(app and api)
      expect("f3/x9", {"dev-1"})
      _, status, err = purge({"--filter", "f3/[[:alpha:]]+:^[[:alpha:]]+-[[:digit:]]$",
                              "--ago", "1d"})
      assert.equal(0, status, err)
      expect("f3/app", {"v1"})
      expect("f3/x9", {"dev-1"})
    end)

    it("ORs several filters", function()
      local a = images("f4/a", {["x-1"] = OLD, ["y-1"] = OLD, ["z-1"] = OLD})
      local b = images("f4/b", {["x-1"] = OLD, ["z-1"] = OLD})
      local _, status, err = purge({"--filter", "f4/a:^x-", "--filter", "f4/a:^y-",
                                    "--filter", "f4/b:^z-", "--ago", "1d"})
      assert.equal(0, status, err)
      expect("f4/a", {"z-1"})
      expect("f4/b", {"x-1"})
      assert.truthy(a and b)
    end)

    it("refuses a malformed filter with one line naming it, exit 2, nothing deleted", function()
      images("f5/app", {["dev-1"] = OLD, [string.rep("a", 64) .. "b"] = OLD})
      local before = world:state("f5/")
      local cases = {   -- the filter, what its one line must say (plain text)
        {"f5/app", "--filter 'f5/app': no ':' between the repository and the tag expression"},
        {":dev", "--filter ':dev': the repository expression is empty"},
        {"f5/app:", "--filter 'f5/app:': the tag expression is empty"},
        {"f5/app:dev:x", "--filter 'f5/app:dev:x': more than one ':' outside groups and classes"},
        {"f5/app:(dev", "--filter 'f5/app:(dev': EREGEX"},
        {"f5/(app:dev", "--filter 'f5/(app:dev': EREGEX"},
        {"f5/app:^(a+)+$", "--filter 'f5/app:^(a+)+$': EREGEX: match limit exceeded"},
      }
      for _, case in ipairs(cases) do
        local out, status, err = purge({"--filter", case[1], "--ago", "0d"})
        assert.equal(2, status, case[1])
        local first = P.lines(err)[1]
        assert.truthy(first:find(case[2], 1, true), first)
        assert.equal(1, first:find("regsh purge: ", 1, true))
        assert.same({first, "Try 'regsh purge --help'."}, P.lines(err))
        assert.equal("", out)
        assert.same(before, world:state("f5/"))
      end
    end)
  end)

  describe("--ago", function()
    it("deletes what is older than the cutoff and keeps what is newer", function()
      local d = images("a1/app", {old = OLD, new = NEW, older = 30 * DAY})
      local _, status, err = purge({"--filter", "a1/app:.*", "--ago", "10d", "--untagged"})
      assert.equal(0, status, err)
      expect("a1/app", {"new"}, {d.old, d.older})
      -- `new` is 9d18h old: older than 9d by 18 hours
      _, status, err = purge({"--filter", "a1/app:.*", "--ago", "9d", "--untagged"})
      assert.equal(0, status, err)
      expect("a1/app", {}, {d.old, d.older, d.new})
    end)

    it("0d means every age", function()
      local d = images("a2/app", {fresh = HOUR, old = OLD})
      local _, status, err = purge({"--filter", "a2/app:.*", "--ago", "0d", "--untagged"})
      assert.equal(0, status, err)
      expect("a2/app", {}, {d.fresh, d.old})
    end)

    it("refuses 999999d, negative and garbage durations before any request", function()
      images("a3/app", {old = 40 * DAY})
      local before = world:state("a3/")
      local cases = {
        {"999999d", 'EDURATION: "999999d" is longer than the limit'},
        {"-1d", 'EDURATION: "%-1d": a duration cannot be negative'},
        {"garbage", 'EDURATION: "garbage": expected a number'},
        {"10x", 'EDURATION: "10x": unknown unit "x"'},
      }
      for _, case in ipairs(cases) do
        local _, status, err = purge({"--filter", "a3/app:.*", "--ago=" .. case[1]})
        assert.equal(2, status, case[1])
        assert.matches("^regsh purge: %-%-ago " .. case[1]:gsub("%-", "%%-") .. ": "
          .. case[2], P.lines(err)[1])
        assert.same(before, world:state("a3/"))
      end
    end)
  end)

  describe("keeping", function()
    it("--keep keeps the N newest of the selected tags (acr's meaning)", function()
      local d = images("k1/app", {["dev-1"] = 40 * DAY, ["dev-2"] = 30 * DAY,
        ["dev-3"] = 20 * DAY, ["dev-4"] = 2 * DAY, v1 = 50 * DAY})
      local _, status, err = purge({"--filter", "k1/app:^dev-", "--ago", "10d", "--keep", "1"})
      assert.equal(0, status, err)
      -- selected: dev-1..3 (dev-4 is too new); the newest selected, dev-3, stays
      expect("k1/app", {"dev-3", "dev-4", "v1"})
      assert.truthy(d["dev-1"])
    end)

    it("--keep-newest keeps the N newest tags of the repository whatever matches", function()
      local d = images("k2/app", {["dev-1"] = 40 * DAY, ["dev-2"] = 30 * DAY,
        ["dev-3"] = 20 * DAY, v1 = 15 * DAY})
      local _, status, err = purge({"--filter", "k2/app:^dev-", "--ago", "10d",
                                    "--keep-newest", "2"})
      assert.equal(0, status, err)
      -- the two newest of the repository are v1 and dev-3
      expect("k2/app", {"dev-3", "v1"})
      assert.truthy(d["dev-1"])
    end)

    it("--exclude (repeatable) protects matching tags", function()
      local d = images("k3/app", {latest = 40 * DAY, stable = 40 * DAY, ["dev-1"] = 40 * DAY,
        ["not-latest-1"] = 40 * DAY})
      local _, status, err = purge({"--filter", "k3/app:.*", "--ago", "10d",
                                    "--exclude", "^latest$", "--exclude", "stab"})
      assert.equal(0, status, err)
      expect("k3/app", {"latest", "stable"})
      assert.truthy(d["dev-1"])
    end)

    it("--keep-semver keeps the N highest semantic versions", function()
      local d = images("k4/app", {["1.2.0"] = 40 * DAY, ["1.10.0"] = 50 * DAY,
        ["2.0.0-rc.1"] = 30 * DAY, ["0.9.9"] = 20 * DAY, ["dev"] = 20 * DAY})
      local _, status, err = purge({"--filter", "k4/app:.*", "--ago", "10d",
                                    "--keep-semver", "2"})
      assert.equal(0, status, err)
      expect("k4/app", {"1.10.0", "2.0.0-rc.1"})
      assert.truthy(d.dev)
    end)
  end)

  it("--shard I/N: the shards are disjoint and cover every repository once", function()
    for i = 1, 12 do images(string.format("s1/r%02d", i), {["dev-1"] = OLD}) end
    local before = world:state("s1/")
    local state = cmd.temp_name()
    local seen, all = {}, {}
    for i = 1, 12 do all[#all + 1] = string.format("s1/r%02d", i) end
    for shard = 0, 3 do
      local out, status, err = purge({"--filter", "s1/.*:dev", "--ago", "1d", "--dry-run",
        "-o", "json", "--shard", shard .. "/4"}, state)
      assert.equal(0, status, err)
      for _, r in ipairs(require("cjson").decode(out).repositories) do
        assert.is_nil(seen[r.repository], r.repository .. " in two shards")
        seen[r.repository] = shard
        assert.equal(1, r.tags)
      end
    end
    local covered = {}
    for name in pairs(seen) do covered[#covered + 1] = name end
    table.sort(covered)
    assert.same(all, covered)
    assert.same(before, world:state("s1/"))
    for _, bad in ipairs({"4/4", "1/0", "x", "-1/2"}) do
      local _, status, err = purge({"--filter", "s1/.*:dev", "--ago", "1d", "--shard=" .. bad})
      assert.equal(2, status, bad)
      assert.matches("--shard", P.lines(err)[1])
    end
  end)

  it("--max-deletes N deletes exactly N; a rerun finishes", function()
    local d = images("m1/app", {["dev-1"] = OLD, ["dev-2"] = OLD, ["dev-3"] = OLD,
                                ["dev-4"] = OLD, ["dev-5"] = OLD, v1 = OLD})
    local state = cmd.temp_name()
    local out, status, err = purge({"--filter", "m1/app:dev", "--ago", "1d", "--untagged",
      "--max-deletes", "2", "--concurrency", "4"}, state)
    assert.equal(0, status, err)
    assert.matches("3 deletes deferred by %-%-max%-deletes 2\n", out)
    assert.matches("Number of deleted tags: 2\nNumber of deleted manifests: 2\n$", out)
    local left = world:tags("m1/app")
    assert.equal(4, #left)   -- v1 and three dev tags
    out, status, err = purge({"--filter", "m1/app:dev", "--ago", "1d", "--untagged"}, state)
    assert.equal(0, status, err)
    assert.matches("Number of deleted tags: 3\nNumber of deleted manifests: 3\n$", out)
    expect("m1/app", {"v1"}, {d["dev-1"], d["dev-2"], d["dev-3"], d["dev-4"], d["dev-5"]})
  end)

  it("prints acr's closing lines, 'to be deleted' in a dry run", function()
    local d = images("o1/app", {["dev-1"] = OLD, ["dev-2"] = OLD, v1 = OLD})
    local out, status, err = purge({"--filter", "o1/app:dev", "--ago", "1d", "--untagged", "--dry-run"})
    assert.equal(0, status, err)
    local lines = P.lines(out)
    assert.equal("DRY RUN: The following output shows what WOULD be deleted if the purge "
      .. "command was executed. Nothing is deleted.", lines[1])
    assert.same({"Number of tags to be deleted: 2", "Number of manifests to be deleted: 2"},
      {lines[#lines - 1], lines[#lines]})
    expect("o1/app", {"dev-1", "dev-2", "v1"})
    out, status, err = purge({"--filter", "o1/app:dev", "--ago", "1d", "--untagged"})
    assert.equal(0, status, err)
    lines = P.lines(out)
    assert.same({"Number of deleted tags: 2", "Number of deleted manifests: 2"},
      {lines[#lines - 1], lines[#lines]})
    expect("o1/app", {"v1"}, {d["dev-1"], d["dev-2"]})
  end)

  it("bad flags, a missing policy and an unknown --set key: one line, exit 2", function()
    images("b1/app", {["dev-1"] = OLD})
    local before = world:state("b1/")
    local policy = cmd.temp_name() .. ".lua"
    local cases = {
      {{"--filter", "b1/app:dev", "--ago", "1d", "--bogus"}, "unknown option '%-%-bogus'"},
      {{"--policy", policy}, "policy " .. policy:gsub("%p", "%%%0") .. ": cannot be read"},
      {{"--policy", "keep-latest", "--set", "nokey=1"},
       "%-%-set nokey: policy policies/keep%-latest.lua has no parameter 'nokey'"},
      {{"--policy", "keep-latest", "--set", "keep=many"}, "%-%-set keep=many: .*wants a number"},
      {{"--filter", "b1/app:dev", "--ago", "1d", "--set", "keep=1"}, "%-%-set needs %-%-policy"},
      {{"--filter", "b1/app:dev", "--ago", "1d", "--keep=-1"}, "%-%-keep"},
      {{"--filter", "b1/app:dev"}, "%-%-ago is required"},
      {{"--filter", "b1/app:dev", "--ago", "1d", "--untagged", "--untagged-only"},
       "%-%-untagged and %-%-untagged%-only exclude each other"},
    }
    for _, case in ipairs(cases) do
      local _, status, err = purge(case[1])
      assert.equal(2, status, table.concat(case[1], " ") .. ": " .. err)
      assert.matches("^regsh purge: " .. case[2], P.lines(err)[1])
      assert.same(before, world:state("b1/"))
    end
  end)
end)

describe("regsh purge on a registry that refuses deletes", function()
  local server, reg, world

  setup(function()
    server = regs.start{no_delete = true}
    reg = assert(registry.open(server.host, {log = quiet}))
    world = P.world(reg, server)
  end)

  teardown(function() regs.stop(server) end)

  it("stops with a clear error, exit 1, nothing deleted", function()
    local d1 = world:image("n1/app", {"dev-1"}, OLD)
    world:image("n1/app", {"dev-2"}, OLD)
    local shared = world:image("n1/app", {"dev-3", "v1"}, OLD)
    assert.truthy(d1 and shared)
    local before = world:state("n1/")
    local out, status, err = P.run(server.host, cmd.temp_name(),
      {"--filter", "n1/app:dev", "--ago", "1d"})
    assert.equal(1, status)
    assert.matches("Number of deleted tags: 0\nNumber of deleted manifests: 0\n$", out)
    local lines = P.lines(err)
    assert.equal(1, #lines, err)
    assert.matches("^regsh purge: n1/app: the registry refuses this delete, so nothing in "
      .. "n1/app was deleted: ENOTSUP", lines[1])
    assert.same(before, world:state("n1/"))
  end)
end)
