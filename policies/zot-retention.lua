-- policies/zot-retention.lua: apply zot's retention model to any registry. The
-- first policy whose `repositories` globs (* within a path segment, ** across
-- segments, ?) match the repository applies:
--   * keepTags: rules of `patterns` (PCRE2 regexes, searched; none = every tag)
--     and criteria mostRecentlyPushedCount (the N newest of the tags the
--     patterns match) and pushedWithin (a duration such as "720h" or "30d"). A
--     tag a rule's patterns match is kept when it meets any of the rule's
--     criteria, or always when the rule has none. Once a policy has any keepTags
--     rule, every tag no rule keeps is deleted; with none, no tag is deleted.
--   * deleteUntagged (default true): manifests no tag reaches (including those
--     the deleted tags leave) older than `delay` are deleted.
--   * deleteReferrers (default false): referrers whose subject is gone, older
--     than `delay`, are deleted.
-- pulledWithin and mostRecentlyPulledCount need pull times regsh does not have
-- and are refused. Tags without a known time meet no time criterion.
--
-- The policies come from `file`, JSON or YAML (.yaml/.yml): a zot config (its
-- storage.retention is read), a retention object, or {"policies": [...]}: e.g.
-- {"delay": "24h", "policies": [{"repositories": ["**"], "deleteUntagged": true,
--  "keepTags": [{"patterns": ["^v"], "mostRecentlyPushedCount": 10}]}]}.
-- Without a file, the params describe one policy for every repository.
--
-- params (defaults):
--   file = ""                        path of a zot retention file ("" = from the params below)
--   patterns = ".*"                  regex of the one keepTags rule
--   most_recently_pushed_count = 10  its mostRecentlyPushedCount (0: not set)
--   pushed_within = ""               its pushedWithin ("": not set)
--   delete_untagged = true           deleteUntagged
--   delete_referrers = false         deleteReferrers
--   delay = "24h"                    age untagged manifests and referrers must exceed
--
-- example:
--   regsh purge --registry R --policy policies/zot-retention.lua \
--     --set patterns='^v' --set most_recently_pushed_count=5 --dry-run
--   regsh purge --registry R --policy policies/zot-retention.lua --set file=zot-config.json --dry-run

-- The regex of a repository glob: ** any text, * and ? within one segment.
local function glob_regex(glob)
  local out = glob:gsub("[^%w/_%-]", function(c)
    if c == "*" or c == "?" then return c end
    return regsh.regex.escape(c)
  end)
  out = out:gsub("%*%*", "\1"):gsub("%*", "[^/]*"):gsub("%?", "[^/]"):gsub("\1", ".*")
  return regsh.regex.compile(out, "f")
end

local function duration(value, where, fail)
  if value == nil then return nil end
  if type(value) ~= "string" then fail(where .. " must be a duration string") end
  local seconds, err = regsh.time.parse_duration(value)
  if not seconds then fail(where .. ": " .. err) end
  return seconds
end

local function check_keep(rule, where, fail)
  if type(rule) ~= "table" then fail(where .. " must be an object") end
  if rule.pulledWithin ~= nil or rule.mostRecentlyPulledCount ~= nil then
    fail(where .. ": pulledWithin and mostRecentlyPulledCount need pull times regsh does not have")
  end
  local c = {patterns = {}, pushed_within = duration(rule.pushedWithin, where .. ".pushedWithin", fail)}
  local count = rule.mostRecentlyPushedCount
  if count ~= nil and (math.type(count) ~= "integer" or count < 0) then
    fail(where .. ".mostRecentlyPushedCount must be an integer >= 0")
  end
  c.count = count
  for i, p in ipairs(rule.patterns or {}) do
    local re, err = regsh.regex.compile(tostring(p))
    if not re then fail(where .. ".patterns[" .. i .. "]: " .. err) end
    c.patterns[i] = re
  end
  return c
end

local function check(doc, source)
  local function fail(msg) error("zot-retention: " .. source .. ": " .. msg, 0) end
  if type(doc) ~= "table" then fail("expected an object") end
  local retention = type(doc.storage) == "table" and doc.storage.retention or doc.retention or doc
  if type(retention) ~= "table" or type(retention.policies) ~= "table" then fail("no retention policies") end
  local out = {delay = duration(retention.delay or "24h", "delay", fail), policies = {}}
  for i, p in ipairs(retention.policies) do
    local where = "policies[" .. i .. "]"
    if type(p) ~= "table" then fail(where .. " must be an object") end
    local c = {repos = {}, keep = {}, delete_untagged = p.deleteUntagged ~= false,
               delete_referrers = p.deleteReferrers == true}
    for j, glob in ipairs(p.repositories or {"**"}) do
      c.repos[j] = glob_regex(tostring(glob)) or fail(where .. ".repositories[" .. j .. "] is not a glob")
    end
    for j, rule in ipairs(p.keepTags or {}) do
      c.keep[j] = check_keep(rule, where .. ".keepTags[" .. j .. "]", fail)
    end
    out.policies[i] = c
  end
  return out
end

local function load(params)
  if params.file == "" then
    local count = params.most_recently_pushed_count
    return check({delay = params.delay, policies = {{
      repositories = {"**"}, deleteUntagged = params.delete_untagged, deleteReferrers = params.delete_referrers,
      keepTags = {{patterns = {params.patterns}, mostRecentlyPushedCount = count ~= 0 and count or nil,
                   pushedWithin = params.pushed_within ~= "" and params.pushed_within or nil}},
    }}}, "params")
  end
  local f, err = io.open(params.file, "r")
  if not f then error("zot-retention: cannot read " .. tostring(err), 0) end
  local text = f:read("a")
  f:close()
  local decode = params.file:match("%.ya?ml$") and regsh.yaml.decode or regsh.json.decode
  local doc, derr = decode(text, params.file)
  if doc == nil then error("zot-retention: " .. tostring(derr), 0) end
  return check(doc, params.file)
end

local function policy_for(config, name)
  for _, p in ipairs(config.policies) do
    for _, re in ipairs(p.repos) do
      if re:test(name) then return p end
    end
  end
  return nil
end

-- The tags one keepTags rule keeps.
local function kept_by(rule, tags)
  local matching = tags
  if #rule.patterns > 0 then
    matching = tags:where(function(t)
      for _, re in ipairs(rule.patterns) do
        if re:test(t.name) then return true end
      end
      return false
    end)
  end
  if rule.count == nil and rule.pushed_within == nil then return matching end
  local kept = matching:first(0)
  if rule.count then kept = kept:union(matching:newest(rule.count):where(function(t) return t.time end)) end
  if rule.pushed_within then kept = kept:union(matching:newer_than(rule.pushed_within)) end
  return kept
end

return {
  description = "Apply zot's retention policies (keepTags, deleteUntagged, deleteReferrers)",
  params = {file = "", patterns = ".*", most_recently_pushed_count = 10, pushed_within = "",
            delete_untagged = true, delete_referrers = false, delay = "24h"},
  repositories = function(name, params)
    return policy_for(load(params), name) ~= nil
  end,
  select = function(repo, params)
    local config = load(params)
    local policy = policy_for(config, repo.name)
    if not policy then return nil end
    local doomed = repo.tags:first(0)
    if #policy.keep > 0 then
      local kept = repo.tags:first(0)
      for _, rule in ipairs(policy.keep) do kept = kept:union(kept_by(rule, repo.tags)) end
      doomed = repo.tags:minus(kept)
      for _, t in ipairs(doomed) do t.reason = "no keepTags rule keeps it" end
    end
    if policy.delete_untagged then
      local untagged = repo:dangling(doomed):older_than(config.delay)
      for _, m in ipairs(untagged) do m.reason = "untagged (deleteUntagged)" end
      doomed = doomed:union(untagged)
    end
    if policy.delete_referrers then
      local orphans = repo.manifests:where(function(m)
        return m.subject ~= nil and repo:manifest(m.subject) == nil
      end):older_than(config.delay)
      for _, m in ipairs(orphans) do m.reason = "its subject is gone (deleteReferrers)" end
      doomed = doomed:union(orphans)
    end
    return doomed
  end,
}
