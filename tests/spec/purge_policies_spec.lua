-- The repository object (regsh.purge.synthetic's repo_from) and the shipped
-- policies of policies/*.lua, each run on synthetic repositories through a
-- small loader with the sandbox's globals (the engine's loader does this for real).
local synthetic = require "regsh.purge.synthetic"
local List = require "regsh.purge.list"

local NOW = 1700000000
local DAY = 86400

local function H(c) return "sha256:" .. string.rep(c, 64) end

local function sandbox()
  local function open(path, mode)
    assert(mode == nil or mode == "r", "read-only")
    return io.open(path, "r")
  end
  return {
    string = string, table = table, math = math, utf8 = utf8, pairs = pairs, ipairs = ipairs,
    next = next, select = select, type = type, tostring = tostring, tonumber = tonumber,
    error = error, assert = assert, pcall = pcall, setmetatable = setmetatable,
    getmetatable = getmetatable, rawequal = rawequal, rawget = rawget, rawset = rawset,
    rawlen = rawlen, print = print,
    os = {time = os.time, date = os.date, clock = os.clock, getenv = os.getenv},
    io = {open = open},
    regsh = {regex = require "regsh.regex", time = require "regsh.time", json = require "regsh.json",
             yaml = require "regsh.yaml", semver = require "regsh.purge.semver"},
  }
end

-- policies/ beside the Lua library in use: a tree's own, or a mutated copy's
-- when tests/mutate.lua points REGSH_LUA_PATH at one
local POLICIES = (os.getenv("REGSH_LUA_PATH") or ""):match("^(.*)/lua/?$")
POLICIES = (POLICIES and POLICIES .. "/policies") or "policies"

local function load_policy(name)
  local chunk = assert(loadfile(POLICIES .. "/" .. name .. ".lua", "t", sandbox()))
  local policy = chunk()
  assert.is_string(policy.description)
  assert.is_function(policy.select)
  return policy
end

-- params: the policy's defaults overridden by `set`
local function params(policy, set)
  local p = {}
  for k, v in pairs(policy.params or {}) do p[k] = v end
  for k, v in pairs(set or {}) do p[k] = v end
  return p
end

-- What select returns, as sorted "tag:NAME" / "manifest:XX" strings.
local function run(name, repo, set)
  local policy = load_policy(name)
  local out = {}
  for _, e in ipairs(policy.select(repo, params(policy, set)) or {}) do
    out[#out + 1] = e.kind == "tag" and "tag:" .. e.name or "manifest:" .. e.digest:sub(8, 9)
  end
  table.sort(out)
  return table.concat(out, " ")
end

local function write_temp(text, suffix)
  local path = os.tmpname() .. (suffix or "")
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local function failure(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok)
  return tostring(err)
end

describe("the purge repository object", function()
  local repo
  before_each(function()
    repo = synthetic{now = NOW, name = "app/web", tags = {
      {name = "v1", digest = H"a", time = NOW - 5 * DAY},
      {name = "multi", digest = H"i"},
      {name = "acr", digest = H"b", updated = NOW - DAY, created = NOW - 9 * DAY},
      {name = "sha256-" .. string.rep("a", 64) .. ".sig", digest = H"s"},
    }, manifests = {
      {digest = H"i", children = {H"1", H"2"}},
      {digest = H"1", created = NOW - 7 * DAY},
      {digest = H"2", created = NOW - 3 * DAY},
      {digest = H"u", created = NOW - 20 * DAY},
      {digest = H"r", subject = H"a", artifact_type = "application/spdx+json"},
      {digest = H"o", subject = H"z", first_seen = NOW - DAY},
      {digest = H"k", subject = H"u"},
      {digest = H"j", children = {H"3"}},
    }}
  end)

  it("splits ordinary and referrer-schema tags and lists every manifest", function()
    assert.same({"acr", "multi", "v1"}, repo.tags:names())
    assert.same({"sha256-" .. string.rep("a", 64) .. ".sig"}, repo.referrer_tags:names())
    assert.equal(12, #repo.manifests)
    assert.is_true(List.is(repo.manifests) and List.is(repo.tags) and List.is(repo.untagged))
    assert.equal(NOW, repo.tags.now)
    assert.equal("app/web", repo.name)
    assert.equal("127.0.0.1:5000", repo.registry)
  end)

  it("fills entries: kinds, media types, tags, indexes, referrers, times", function()
    local v1 = repo:tag("v1")
    assert.equal("tag", v1.kind)
    assert.equal(repo:manifest(H"a"), v1.manifest)
    assert.equal("application/vnd.oci.image.manifest.v1+json", v1.media_type)
    assert.same({NOW - 5 * DAY, "created"}, {v1.time, v1.time_source})
    assert.same({NOW - DAY, "updated"}, {repo:tag("acr").time, repo:tag("acr").time_source})
    local index = repo:manifest(H"i")
    assert.equal("application/vnd.oci.image.index.v1+json", index.media_type)
    assert.is_true(index.is_index)
    assert.equal(NOW - 3 * DAY, index.created)  -- the newest child's
    assert.same({"multi"}, index.tags)
    assert.same({"sha256-" .. string.rep("a", 64) .. ".sig"}, repo:manifest(H"s").tags)
    assert.is_true(repo:manifest(H"r").is_referrer)
    assert.is_false(repo:manifest(H"a").is_referrer)
    assert.same({NOW - DAY, "first-seen"}, {repo:manifest(H"o").time, repo:manifest(H"o").time_source})
    assert.is_nil(repo:manifest(H"k").time)
    assert.is_false(repo:manifest(H"k").locked)
    assert.is_nil(repo:tag("nope"))
    assert.is_nil(repo:manifest(H"z"))
    assert.same({H"r"}, repo:referrers(H"a"):names())
    assert.equal(0, #repo:referrers(H"z"):minus(repo:referrers(H"z")))
  end)

  it("untagged: top-level manifests no tag reaches", function()
    -- not the index's children, not the referrer of v1, not k (its subject u goes first)
    assert.same({H"j", H"o", H"u"}, repo.untagged:names())
  end)

  it("dangling(tags): what the deletion of tags leaves unreachable, top level, with untagged", function()
    assert.same({H"i", H"j", H"o", H"u"}, repo:dangling({repo:tag("multi")}):names())
    assert.same({H"a", H"j", H"o", H"u"}, repo:dangling({"v1"}):names())
    assert.same(repo.untagged:names(), repo:dangling({}):names())
    -- a digest with two tags stays while one remains
    local two = synthetic{now = NOW, tags = {{name = "x", digest = H"a"}, {name = "y", digest = H"a"}}}
    assert.same({}, two:dangling({"x"}):names())
    assert.same({H"a"}, two:dangling({"x", "y"}):names())
  end)

  it("age_source picks one source only", function()
    local r = synthetic{now = NOW, age_source = "first-seen", tags = {{name = "t", digest = H"a", created = 5}},
                        manifests = {{digest = H"a", first_seen = 7}}}
    assert.same({7, "first-seen"}, {r:tag("t").time, r:tag("t").time_source})
    r = synthetic{now = NOW, age_source = "updated", tags = {{name = "t", digest = H"a", created = 5}}}
    assert.is_nil(r:tag("t").time)
  end)

  it("repo_from refuses records that do not fit, naming them", function()
    assert.matches("tag v1 names sha256:a+, which has no record", failure(function()
      synthetic.repo_from{now = NOW, tags = {{name = "v1", digest = H"a"}}, manifests = {}}
    end))
    assert.matches("lists sha256:1+, which has no record", failure(function()
      synthetic.repo_from{now = NOW, manifests = {{digest = H"i", children = {H"1"}}}}
    end))
    assert.matches("`now` must be Unix seconds", failure(function() synthetic.repo_from{now = "x"} end))
  end)
end)

describe("policies/keep-latest.lua", function()
  local repo = synthetic{now = NOW, tags = {
    {name = "dev-1", digest = H"1", time = NOW - 4 * DAY}, {name = "dev-2", digest = H"2", time = NOW - 3 * DAY},
    {name = "dev-3", digest = H"3", time = NOW - 2 * DAY}, {name = "dev-keep", digest = H"4", time = NOW - 9 * DAY},
    {name = "rel-1", digest = H"5", time = NOW - 8 * DAY}, {name = "dev-notime", digest = H"6"},
  }}

  it("keeps the N newest tags the regex considers; exclude and time-less tags stay", function()
    assert.equal("tag:dev-keep tag:rel-1", run("keep-latest", repo, {keep = 3}))
    assert.equal("tag:dev-1 tag:dev-2 tag:dev-keep tag:rel-1", run("keep-latest", repo, {keep = 1}))
    assert.equal("tag:dev-1 tag:dev-2", run("keep-latest", repo, {keep = 1, tags = "^dev-",
                                                                   exclude = "keep"}))
    assert.equal("", run("keep-latest", repo, {keep = 10}))
  end)

  it("scans the repositories its regex matches whole", function()
    local policy = load_policy("keep-latest")
    assert.is_true(policy.repositories("app/web", params(policy, {repositories = "app/.*"})))
    assert.is_false(policy.repositories("x/app/web", params(policy, {repositories = "app/.*"})))
  end)
end)

describe("policies/keep-semver.lua", function()
  local repo = synthetic{now = NOW, tags = {
    {name = "v1.0.0", digest = H"1"}, {name = "v1.1.0", digest = H"2"}, {name = "v1.1.1", digest = H"3"},
    {name = "v2.0.0", digest = H"4"}, {name = "v2.1.0-rc.1", digest = H"5"}, {name = "latest", digest = H"4"},
    {name = "v0.9", digest = H"6"},
  }}

  it("keeps the N highest versions and leaves other tags alone", function()
    assert.equal("tag:v0.9 tag:v1.0.0 tag:v1.1.0 tag:v1.1.1", run("keep-semver", repo, {keep = 2}))
    assert.equal("tag:v0.9 tag:v1.0.0 tag:v1.1.0", run("keep-semver", repo, {keep = 2, prerelease = false}))
  end)

  it("keeps N per major or per minor too", function()
    -- kept: v2.1.0-rc.1 (highest), v1.1.1 and v0.9 (highest of their majors)
    assert.equal("tag:v1.0.0 tag:v1.1.0 tag:v2.0.0", run("keep-semver", repo, {keep = 1, per_major = 1}))
    assert.equal("tag:v1.1.0", run("keep-semver", repo, {keep = 0, per_minor = 1}))
  end)

  it("deletes non-versions only when asked, and never excluded tags", function()
    assert.equal("tag:latest tag:v0.9 tag:v1.0.0 tag:v1.1.0 tag:v1.1.1 tag:v2.0.0",
                 run("keep-semver", repo, {keep = 1, delete_other = true}))
    assert.equal("tag:v0.9 tag:v1.1.0 tag:v1.1.1 tag:v2.0.0",
                 run("keep-semver", repo, {keep = 1, exclude = "^v1\\.0"}))
  end)
end)

describe("policies/dangling.lua", function()
  it("selects untagged top-level manifests older than the age", function()
    local repo = synthetic{now = NOW, tags = {{name = "multi", digest = H"i"}}, manifests = {
      {digest = H"i", children = {H"1"}, created = NOW - 30 * DAY},
      {digest = H"u", created = NOW - 10 * DAY}, {digest = H"n", created = NOW - DAY},
      {digest = H"x"},
    }}
    assert.equal("manifest:uu", run("dangling", repo, {older = "2d"}))
    assert.equal("manifest:nn manifest:uu", run("dangling", repo, {older = "0d"}))
    assert.equal("", run("dangling", repo, {older = "10d"}))
  end)
end)

describe("policies/orphan-referrers.lua", function()
  it("selects referrers and referrer-schema tags whose subject is gone, past the age", function()
    local gone = string.rep("d", 64)
    local repo = synthetic{now = NOW, tags = {
      {name = "v1", digest = H"a", time = NOW - 9 * DAY},
      {name = "sha256-" .. gone .. ".sig", digest = H"s", time = NOW - 9 * DAY},
      {name = "sha256-" .. string.rep("a", 64) .. ".sig", digest = H"t", time = NOW - 9 * DAY},
    }, manifests = {
      {digest = H"r", subject = H"a", time = NOW - 9 * DAY},
      {digest = H"o", subject = H"d", time = NOW - 9 * DAY},
      {digest = H"f", subject = H"e", time = NOW - 3600},
    }}
    assert.equal("manifest:oo tag:sha256-" .. gone .. ".sig", run("orphan-referrers", repo))
    assert.equal("manifest:ff manifest:oo tag:sha256-" .. gone .. ".sig",
                 run("orphan-referrers", repo, {older = "0d"}))
  end)
end)

describe("policies/ecr-lifecycle.lua", function()
  -- prod-2 is the newest image: a rule that ignored earlier rules' selections
  -- would keep it instead of dev-2
  local repo = synthetic{now = NOW, tags = {
    {name = "prod-1", digest = H"1", time = NOW - 20 * DAY}, {name = "prod-2", digest = H"2", time = NOW},
    {name = "dev-1", digest = H"3", time = NOW - 10 * DAY}, {name = "dev-2", digest = H"4", time = NOW - DAY},
    {name = "v1-web-prod", digest = H"5", time = NOW - 30 * DAY},
    {name = "v1-web", digest = H"6", time = NOW - 30 * DAY}, {name = "x-prod", digest = H"6"},
  }, manifests = {{digest = H"u", created = NOW - 40 * DAY}, {digest = H"n"}}}

  local function policy_file(rules)
    return write_temp(require("regsh.json").encode({rules = rules}), ".json")
  end
  local function rule(priority, selection)
    return {rulePriority = priority, selection = selection, action = {type = "expire"}}
  end

  it("applies rules in priority order; an image matched by an earlier rule is not a later rule's", function()
    local file = policy_file({
      rule(2, {tagStatus = "any", countType = "imageCountMoreThan", countNumber = 1}),
      rule(1, {tagStatus = "tagged", tagPrefixList = {"prod"}, countType = "imageCountMoreThan",
               countNumber = 1}),
    })
    -- rule 1: prod-2 stays, prod-1 goes; rule 2 (the rest): dev-2 stays; n has no time
    assert.equal("manifest:11 manifest:33 manifest:55 manifest:66 manifest:uu tag:dev-1 tag:prod-1 "
                 .. "tag:v1-web tag:v1-web-prod tag:x-prod", run("ecr-lifecycle", repo, {file = file}))
    os.remove(file)
  end)

  it("patterns with * must all match one of the image's tags; sinceImagePushed counts days", function()
    local file = policy_file({
      rule(1, {tagStatus = "tagged", tagPatternList = {"v*-web*", "*prod"}, countType = "sinceImagePushed",
               countUnit = "days", countNumber = 7}),
      rule(2, {tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 39}),
    })
    assert.equal("manifest:55 manifest:66 manifest:uu tag:v1-web tag:v1-web-prod tag:x-prod",
                 run("ecr-lifecycle", repo, {file = file}))
    os.remove(file)
  end)

  it("refuses a bad policy with one error naming the file and the rule", function()
    local cases = {
      {rule(1, {tagStatus = "untagged", tagPrefixList = {"x"}, countType = "imageCountMoreThan", countNumber = 1}),
       "rule 1: tagStatus \"untagged\" takes no tagPrefixList"},
      {rule(3, {tagStatus = "tagged", countType = "imageCountMoreThan", countNumber = 1}),
       "rule 3: tagStatus \"tagged\" needs tagPrefixList or tagPatternList"},
      {rule(1, {tagStatus = "tagged", tagPatternList = {"a*b*c*d*e*"}, countType = "imageCountMoreThan",
                countNumber = 1}), "rule 1: tagPatternList pattern a%*b%*c%*d%*e%* has more than 4 wildcards"},
      {rule(1, {tagStatus = "any", countType = "sinceImagePulled", countUnit = "days", countNumber = 1}),
       "rule 1: countType sinceImagePulled is not supported"},
      {rule(2, {tagStatus = "any", countType = "sinceImagePushed", countNumber = 1}),
       "rule 2: sinceImagePushed needs countUnit \"days\""},
    }
    for _, case in ipairs(cases) do
      local file = policy_file({case[1]})
      local err = failure(function() run("ecr-lifecycle", repo, {file = file}) end)
      assert.matches("^ecr%-lifecycle: " .. file:gsub("%p", "%%%0") .. ": " .. case[2], err)
      os.remove(file)
    end
    local file = policy_file({
      rule(1, {tagStatus = "any", countType = "imageCountMoreThan", countNumber = 1}),
      rule(2, {tagStatus = "untagged", countType = "imageCountMoreThan", countNumber = 1}),
    })
    assert.matches("rule 1: a tagStatus \"any\" rule must have the highest rulePriority",
                   failure(function() run("ecr-lifecycle", repo, {file = file}) end))
    os.remove(file)
    assert.matches("set file=PATH", failure(function() run("ecr-lifecycle", repo) end))
    assert.matches("cannot read /nonexistent/x.json",
                   failure(function() run("ecr-lifecycle", repo, {file = "/nonexistent/x.json"}) end))
    file = write_temp("{rules: ", ".json")
    assert.matches("^ecr%-lifecycle: EJSON: " .. file:gsub("%p", "%%%0"),
                   failure(function() run("ecr-lifecycle", repo, {file = file}) end))
    os.remove(file)
  end)
end)

describe("policies/harbor-retention.lua", function()
  local repo = synthetic{now = NOW, name = "proj/web", tags = {
    {name = "v1", digest = H"a", time = NOW - 9 * DAY}, {name = "latest", digest = H"a"},
    {name = "v2", digest = H"b", time = NOW - DAY}, {name = "dev", digest = H"c", time = NOW - 2 * DAY},
  }, manifests = {{digest = H"u", created = NOW - 50 * DAY}}}

  it("an artifact with any retained tag keeps all its tags", function()
    assert.equal("manifest:cc tag:dev", run("harbor-retention", repo, {template = "always", tags = "v*"}))
  end)

  it("latestPushedK among the selected; untagged follows the decoration's default", function()
    assert.equal("manifest:aa manifest:cc manifest:uu tag:dev tag:latest tag:v1",
                 run("harbor-retention", repo, {count = 1}))
    assert.equal("manifest:aa manifest:bb manifest:uu tag:latest tag:v1 tag:v2",
                 run("harbor-retention", repo, {count = 1, decoration = "excludes", tags = "v2"}))
    assert.equal("manifest:bb manifest:uu tag:v2",
                 run("harbor-retention", repo, {count = 3, decoration = "excludes", tags = "v2"}))
    assert.equal("manifest:bb tag:v2",
                 run("harbor-retention", repo, {count = 3, decoration = "excludes", tags = "v2", untagged = true}))
  end)

  it("reads rules from a YAML file: OR-ed, scoped by repository, doublestar braces", function()
    local file = write_temp([[
rules:
  - template: nDaysSinceLastPush
    params: {nDaysSinceLastPush: 3}
    tag_selectors: [{kind: doublestar, decoration: matches, pattern: "{dev,v9}", extras: '{"untagged":false}'}]
    scope_selectors: {repository: [{kind: doublestar, decoration: repoMatches, pattern: "proj/**"}]}
  - template: latestPushedK
    params: {latestPushedK: 1}
    tag_selectors: [{kind: doublestar, decoration: matches, pattern: "v?"}]
  - template: always
    disabled: true
]], ".yaml")
    assert.equal("manifest:aa manifest:uu tag:latest tag:v1", run("harbor-retention", repo, {file = file}))
    local policy = load_policy("harbor-retention")
    assert.is_true(policy.repositories("proj/web", params(policy, {file = file})))
    os.remove(file)
  end)

  it("leaves repositories no rule scopes alone, and refuses what it cannot evaluate", function()
    local policy = load_policy("harbor-retention")
    assert.is_false(policy.repositories("proj/web", params(policy, {repositories = "other/**"})))
    assert.equal("", run("harbor-retention", repo, {repositories = "other/**"}))
    local file = write_temp('{"rules": [{"template": "always"}, {"template": "latestPulledN", '
                            .. '"params": {"latestPulledN": 3}}]}', ".json")
    assert.matches("^harbor%-retention: " .. file:gsub("%p", "%%%0") .. ": rule 2: template latestPulledN",
                   failure(function() run("harbor-retention", repo, {file = file}) end))
    os.remove(file)
  end)
end)

describe("policies/zot-retention.lua", function()
  local repo = synthetic{now = NOW, name = "infra/db", tags = {
    {name = "v1", digest = H"1", time = NOW - 9 * DAY}, {name = "v2", digest = H"2", time = NOW - DAY},
    {name = "dev", digest = H"3", time = NOW - 2 * DAY},
  }, manifests = {
    {digest = H"u", created = NOW - 5 * DAY}, {digest = H"n", created = NOW - 3600},
    {digest = H"o", subject = H"z", created = NOW - 5 * DAY},
  }}

  it("keeps what a keepTags rule keeps, deletes other tags and old untagged manifests", function()
    assert.equal("manifest:11 manifest:33 manifest:oo manifest:uu tag:dev tag:v1",
                 run("zot-retention", repo, {patterns = "^v", most_recently_pushed_count = 1}))
    assert.equal("manifest:33 manifest:oo manifest:uu tag:dev",
                 run("zot-retention", repo, {patterns = "^v", most_recently_pushed_count = 0}))
    assert.equal("tag:dev",
                 run("zot-retention", repo, {patterns = "^v", most_recently_pushed_count = 1,
                                             pushed_within = "10d", delete_untagged = false}))
  end)

  it("reads a zot config: the first matching policy, no keepTags keeps every tag, deleteReferrers", function()
    local file = write_temp(require("regsh.json").encode({storage = {retention = {delay = "1h", policies = {
      {repositories = {"app/*"}, keepTags = {{patterns = {"^nothing"}}}},
      {repositories = {"infra/**"}, deleteUntagged = false, deleteReferrers = true},
    }}}}), ".json")
    assert.equal("manifest:oo", run("zot-retention", repo, {file = file}))
    local policy = load_policy("zot-retention")
    assert.is_true(policy.repositories("infra/db", params(policy, {file = file})))
    assert.is_false(policy.repositories("other", params(policy, {file = file})))
    os.remove(file)
  end)

  it("refuses pull criteria naming the file and the rule", function()
    local file = write_temp('policies: [{keepTags: [{pulledWithin: "24h"}]}]\n', ".yaml")
    assert.matches("^zot%-retention: " .. file:gsub("%p", "%%%0") .. ": policies%[1%]%.keepTags%[1%]: pulledWithin",
                   failure(function() run("zot-retention", repo, {file = file}) end))
    os.remove(file)
  end)
end)
