-- policies/harbor-retention.lua: apply Harbor tag retention rules to any
-- registry. Rules are *retain* rules, OR-ed: an artifact (a manifest with tags,
-- or an untagged manifest no tag reaches) that no rule retains is deleted, with
-- all its tags. Each rule, for a repository its scope selects:
--   1. tag selectors (doublestar globs: *, **, ?, [..], {a,b} and comma lists):
--      decoration "matches" selects the tags the pattern matches, "excludes" the
--      tags it does not; an artifact is selected when any of its tags is, so an
--      artifact with one retained tag keeps all its tags. extras {"untagged":
--      bool} selects untagged artifacts too (default: true for matches, false
--      for excludes).
--   2. the template: latestPushedK (the K most recently pushed of the selected),
--      nDaysSinceLastPush (pushed within N days), always (all of them).
-- latestPulledN, nDaysSinceLastPull and latestActiveK need pull times regsh does
-- not have and are refused. Artifacts without a known time are always retained.
-- Repositories no enabled rule's scope selects are not touched. Repository
-- patterns match the whole repository name (with its namespace).
--
-- The rules come from `file`, JSON or YAML (.yaml/.yml) in the shape of Harbor's
-- retention API: {"rules": [{"template": "latestPushedK", "params":
-- {"latestPushedK": 10}, "tag_selectors": [{"kind": "doublestar", "decoration":
-- "matches", "pattern": "**", "extras": "{\"untagged\":true}"}], "scope_selectors":
-- {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern":
-- "**"}]}, "disabled": false, "action": "retain"}]}, or without a file from
-- params describing one rule.
--
-- params (defaults):
--   file = ""                  path of a rules file ("" = one rule from the params below)
--   template = "latestPushedK" latestPushedK | nDaysSinceLastPush | always
--   count = 10                 K (latestPushedK) or N days (nDaysSinceLastPush)
--   tags = "**"                doublestar pattern of the tag selector
--   decoration = "matches"     matches | excludes
--   untagged = ""              "" (the decoration's default), true or false
--   repositories = "**"        doublestar pattern of the repositories in scope
--   repo_decoration = "repoMatches"  repoMatches | repoExcludes
--
-- example:
--   regsh purge --registry R --policy policies/harbor-retention.lua \
--     --set template=latestPushedK --set count=5 --set tags='v*' --dry-run
--   regsh purge --registry R --policy policies/harbor-retention.lua --set file=retention.yaml --dry-run
local TEMPLATES = {latestPushedK = true, nDaysSinceLastPush = true, always = true}

-- The regex of a doublestar glob: ** any text, * and ? within one path segment,
-- {a,b} alternatives, [..] classes ([!..] negated); a comma list is {a,b}.
local function glob_regex(glob)
  if glob:find(",", 1, true) and glob:sub(1, 1) ~= "{" then glob = "{" .. glob .. "}" end
  local out, depth, i = {}, 0, 1
  while i <= #glob do
    local c = glob:sub(i, i)
    if c == "*" and glob:sub(i + 1, i + 1) == "*" then
      out[#out + 1], i = ".*", i + 1
    elseif c == "*" then out[#out + 1] = "[^/]*"
    elseif c == "?" then out[#out + 1] = "[^/]"
    elseif c == "{" then out[#out + 1], depth = "(?:", depth + 1
    elseif c == "}" and depth > 0 then out[#out + 1], depth = ")", depth - 1
    elseif c == "," and depth > 0 then out[#out + 1] = "|"
    elseif c == "[" then
      local close = glob:find("]", i + 2, true)
      if not close then return nil end
      out[#out + 1] = "[" .. glob:sub(i + 1, close - 1):gsub("^!", "^"):gsub("\\", "\\\\") .. "]"
      i = close
    else out[#out + 1] = regsh.regex.escape(c) end
    i = i + 1
  end
  if depth ~= 0 then return nil end
  return regsh.regex.compile(table.concat(out), "f")
end

local function read_rules(file)
  local f, err = io.open(file, "r")
  if not f then error("harbor-retention: cannot read " .. tostring(err), 0) end
  local text = f:read("a")
  f:close()
  local decode = file:match("%.ya?ml$") and regsh.yaml.decode or regsh.json.decode
  local doc, derr = decode(text, file)
  if doc == nil then error("harbor-retention: " .. tostring(derr), 0) end
  if type(doc) ~= "table" or type(doc.rules) ~= "table" or #doc.rules == 0 then
    error("harbor-retention: " .. file .. ": no rules (expected {rules: [...]})", 0)
  end
  return doc.rules
end

local function rules_from_params(params)
  local untagged = params.untagged
  if untagged == "" then untagged = nil end
  return {{
    template = params.template,
    params = {[params.template] = params.count},
    tag_selectors = {{kind = "doublestar", decoration = params.decoration, pattern = params.tags,
                      extras = untagged ~= nil and {untagged = untagged == true or untagged == "true"} or nil}},
    scope_selectors = {repository = {{kind = "doublestar", decoration = params.repo_decoration,
                                      pattern = params.repositories}}},
  }}
end

local function selector(s, where, decorations, fail)
  if type(s) ~= "table" then fail(where .. " must be an object") end
  if s.kind ~= nil and s.kind ~= "doublestar" then fail(where .. ".kind must be doublestar") end
  if not decorations[s.decoration] then fail(where .. ".decoration " .. tostring(s.decoration) .. " is not known") end
  if type(s.pattern) ~= "string" then fail(where .. ".pattern must be a string") end
  local re = glob_regex(s.pattern)
  if not re then fail(where .. ".pattern " .. s.pattern .. " is not a valid doublestar pattern") end
  local extras = s.extras
  if type(extras) == "string" and extras ~= "" then
    extras = regsh.json.decode(extras) or fail(where .. ".extras is not JSON")
  end
  local untagged = nil
  if type(extras) == "table" then untagged = extras.untagged end
  if untagged == nil or untagged == regsh.json.null then untagged = s.decoration == "matches" end
  return {re = re, excludes = s.decoration == "excludes" or s.decoration == "repoExcludes",
          untagged = untagged == true}
end

local function check_rules(rules, source)
  local checked = {}
  for i, rule in ipairs(rules) do
    local function fail(msg) error(string.format("harbor-retention: %s: rule %d: %s", source, i, msg), 0) end
    if type(rule) ~= "table" then fail("must be an object") end
    if not rule.disabled then
      if rule.action ~= nil and rule.action ~= "retain" then fail('action must be "retain"') end
      if not TEMPLATES[rule.template] then
        fail("template " .. tostring(rule.template) .. " is not supported (latestPushedK, nDaysSinceLastPush, always)")
      end
      local count = type(rule.params) == "table" and rule.params[rule.template]
      if rule.template ~= "always" and (math.type(count) ~= "integer" or count < 0) then
        fail("params." .. rule.template .. " must be an integer >= 0")
      end
      local c = {index = i, template = rule.template, count = count, tags = {}, repos = {}}
      for j, s in ipairs(rule.tag_selectors or {}) do
        c.tags[j] = selector(s, "tag_selectors[" .. j .. "]", {matches = true, excludes = true}, fail)
      end
      local scope = type(rule.scope_selectors) == "table" and rule.scope_selectors.repository or {}
      for j, s in ipairs(scope) do
        c.repos[j] = selector(s, "scope_selectors.repository[" .. j .. "]",
                              {repoMatches = true, repoExcludes = true}, fail)
      end
      checked[#checked + 1] = c
    end
  end
  return checked
end

local function load(params)
  if params.file ~= "" then return check_rules(read_rules(params.file), params.file) end
  return check_rules(rules_from_params(params), "params")
end

local function in_scope(rule, name)
  for _, s in ipairs(rule.repos) do
    if (s.re:test(name) == true) == s.excludes then return false end
  end
  return true
end

-- Whether a tag selector selects an artifact: any of its tags, or it is untagged.
local function tag_selected(s, tags)
  if #tags == 0 then return s.untagged end
  local selected = 0
  for _, tag in ipairs(tags) do
    if (s.re:test(tag) == true) ~= s.excludes then selected = selected + 1 end
  end
  return selected > 0
end

local function retained_by(rule, artifacts, tags_of)
  local selected = artifacts:where(function(m)
    for _, s in ipairs(rule.tags) do
      if not tag_selected(s, tags_of[m.digest] or {}) then return false end
    end
    return true
  end)
  local timeless = selected:where(function(m) return m.time == nil end)
  if rule.template == "always" then return selected end
  if rule.template == "latestPushedK" then
    return selected:minus(timeless):sort_by_time():first(rule.count):union(timeless)
  end
  return selected:newer_than(rule.count * 86400):union(timeless)
end

return {
  description = "Apply Harbor tag retention rules (retain rules, OR-ed) to the repositories",
  params = {file = "", template = "latestPushedK", count = 10, tags = "**", decoration = "matches",
            untagged = "", repositories = "**", repo_decoration = "repoMatches"},
  repositories = function(name, params)
    for _, rule in ipairs(load(params)) do
      if in_scope(rule, name) then return true end
    end
    return false
  end,
  select = function(repo, params)
    local rules = {}
    for _, rule in ipairs(load(params)) do
      if in_scope(rule, repo.name) then rules[#rules + 1] = rule end
    end
    if #rules == 0 then return nil end
    local tags_of = {}
    for _, t in ipairs(repo.tags) do
      tags_of[t.digest] = tags_of[t.digest] or {}
      table.insert(tags_of[t.digest], t.name)
    end
    local artifacts = repo.manifests:where(function(m) return tags_of[m.digest] ~= nil end)
      :union(repo.untagged)
    local retained = repo.manifests:first(0)
    for _, rule in ipairs(rules) do retained = retained:union(retained_by(rule, artifacts, tags_of)) end
    local out = {}
    for _, m in ipairs(artifacts:minus(retained)) do
      m.reason = "no Harbor retention rule retains it"
      for _, name in ipairs(tags_of[m.digest] or {}) do
        local t = repo:tag(name)
        t.reason = m.reason
        out[#out + 1] = t
      end
      out[#out + 1] = m
    end
    return out
  end,
}
