-- policies/ecr-lifecycle.lua: apply an AWS ECR lifecycle policy (the JSON ECR
-- takes) to any registry. An "image" is a manifest with tags, or an untagged
-- manifest no tag reaches (repo.untagged); referrers and index children go with
-- their image. Rules run lowest rulePriority first, as ECR evaluates them:
--   * selection.tagStatus: "tagged" (needs tagPrefixList or tagPatternList),
--     "untagged" (neither list), "any" (neither list; must be the last rule);
--   * tagPrefixList / tagPatternList: every prefix or pattern (with `*`, at most
--     4 per pattern) must match one of the image's tags;
--   * countType "imageCountMoreThan" (keeps the countNumber newest of the images
--     the rule selects, expires the rest) or "sinceImagePushed" (countUnit
--     "days": expires images whose time is older than countNumber days);
--   * an image is expired by at most one rule, and an image a rule's tag
--     selection matches is not considered by any later rule;
--   * action.type must be "expire". sinceImagePulled, sinceImageTransitioned and
--     storageClass need data regsh does not have and are refused.
-- An expired image loses its tags and its manifest. Images without a known time
-- are never expired. A bad file stops the run with one error naming the file and
-- the rule.
--
-- params (defaults):
--   file = ""            path of the lifecycle policy JSON (required)
--   repositories = ".*"  PCRE2 regex the whole repository name must match
--
-- example:
--   regsh purge --registry R --policy policies/ecr-lifecycle.lua \
--     --set file=lifecycle.json --dry-run
local TAG_STATUS = {tagged = true, untagged = true, any = true}
local COUNT_TYPES = {imageCountMoreThan = true, sinceImagePushed = true}

local function read_file(path)
  local f, err = io.open(path, "r")
  if not f then error("ecr-lifecycle: cannot read " .. tostring(err), 0) end
  local text = f:read("a")
  f:close()
  return text
end

local function strings(list, what, fail)
  if type(list) ~= "table" or #list == 0 then fail(what .. " must be a non-empty array of strings") end
  for _, s in ipairs(list) do
    if type(s) ~= "string" or s == "" then fail(what .. " must hold non-empty strings") end
  end
  return list
end

-- The regex of an ECR tag pattern: `*` is any text, the rest literal, whole tag.
local function pattern_regex(p, fail)
  local _, stars = p:gsub("%*", "")
  if stars > 4 then fail("tagPatternList pattern " .. p .. " has more than 4 wildcards") end
  local parts = {}
  for piece in (p .. "*"):gmatch("([^*]*)%*") do parts[#parts + 1] = regsh.regex.escape(piece) end
  return assert(regsh.regex.compile(table.concat(parts, ".*"), "f"))
end

local function check_rule(rule, i, file, seen)
  local name = "rule " .. (math.type(rule.rulePriority) == "integer" and rule.rulePriority or "#" .. i)
  local function fail(msg) error(string.format("ecr-lifecycle: %s: %s: %s", file, name, msg), 0) end
  if math.type(rule.rulePriority) ~= "integer" or rule.rulePriority < 1 then
    fail("rulePriority must be an integer >= 1")
  end
  if seen[rule.rulePriority] then fail("rulePriority is not unique") end
  seen[rule.rulePriority] = true
  local sel = rule.selection
  if type(sel) ~= "table" then fail("selection is missing") end
  if not TAG_STATUS[sel.tagStatus] then fail("selection.tagStatus must be tagged, untagged or any") end
  if sel.tagPrefixList and sel.tagPatternList then fail("give tagPrefixList or tagPatternList, not both") end
  local checked = {priority = rule.rulePriority, status = sel.tagStatus, prefixes = {}, patterns = {},
                   description = rule.description}
  if sel.tagStatus == "tagged" then
    if not sel.tagPrefixList and not sel.tagPatternList then
      fail('tagStatus "tagged" needs tagPrefixList or tagPatternList')
    end
    if sel.tagPrefixList then checked.prefixes = strings(sel.tagPrefixList, "tagPrefixList", fail) end
    for _, p in ipairs(sel.tagPatternList and strings(sel.tagPatternList, "tagPatternList", fail) or {}) do
      checked.patterns[#checked.patterns + 1] = pattern_regex(p, fail)
    end
  elseif sel.tagPrefixList or sel.tagPatternList then
    fail('tagStatus "' .. sel.tagStatus .. '" takes no tagPrefixList or tagPatternList')
  end
  if sel.storageClass ~= nil and sel.storageClass ~= "standard" then
    fail("storageClass " .. tostring(sel.storageClass) .. " is not supported")
  end
  if not COUNT_TYPES[sel.countType] then
    fail("countType " .. tostring(sel.countType) .. " is not supported (imageCountMoreThan or sinceImagePushed)")
  end
  if math.type(sel.countNumber) ~= "integer" or sel.countNumber < 1 then
    fail("countNumber must be an integer >= 1")
  end
  if sel.countType == "sinceImagePushed" and sel.countUnit ~= "days" then
    fail('sinceImagePushed needs countUnit "days"')
  elseif sel.countType == "imageCountMoreThan" and sel.countUnit ~= nil then
    fail("imageCountMoreThan takes no countUnit")
  end
  if type(rule.action) ~= "table" or rule.action.type ~= "expire" then
    fail('action.type must be "expire"')
  end
  checked.count_type, checked.count = sel.countType, sel.countNumber
  return checked
end

--- The rules of the policy in `file`, checked, lowest priority first.
local function load_rules(file)
  if type(file) ~= "string" or file == "" then
    error("ecr-lifecycle: set file=PATH of an ECR lifecycle policy JSON", 0)
  end
  local doc, err = regsh.json.decode(read_file(file), file)
  if doc == nil then error("ecr-lifecycle: " .. err, 0) end
  if type(doc) ~= "table" or type(doc.rules) ~= "table" or #doc.rules == 0 then
    error("ecr-lifecycle: " .. file .. ": no rules (expected {\"rules\": [...]})", 0)
  end
  local rules, seen, untagged = {}, {}, 0
  for i, rule in ipairs(doc.rules) do
    if type(rule) ~= "table" then error("ecr-lifecycle: " .. file .. ": rule #" .. i .. " is not an object", 0) end
    rules[i] = check_rule(rule, i, file, seen)
    if rules[i].status == "untagged" then untagged = untagged + 1 end
    if untagged > 1 then
      error("ecr-lifecycle: " .. file .. ": rule " .. rules[i].priority
        .. ": only one rule may select untagged images", 0)
    end
  end
  table.sort(rules, function(a, b) return a.priority < b.priority end)
  for i, rule in ipairs(rules) do
    if rule.status == "any" and i ~= #rules then
      error("ecr-lifecycle: " .. file .. ": rule " .. rule.priority
        .. ': a tagStatus "any" rule must have the highest rulePriority', 0)
    end
  end
  return rules
end

-- Whether every prefix and pattern of the rule matches one of the image's tags.
local function tags_match(rule, tags)
  for _, prefix in ipairs(rule.prefixes) do
    local found = false
    for _, tag in ipairs(tags) do
      if tag:sub(1, #prefix) == prefix then found = true break end
    end
    if not found then return false end
  end
  for _, re in ipairs(rule.patterns) do
    local found = false
    for _, tag in ipairs(tags) do
      if re:test(tag) then found = true break end
    end
    if not found then return false end
  end
  return true
end

local function selects(rule, image, tags)
  if rule.status == "any" then return true end
  if rule.status == "untagged" then return #tags == 0 end
  return #tags > 0 and tags_match(rule, tags)
end

return {
  description = "Apply an AWS ECR lifecycle policy (JSON) to the repositories",
  params = {file = "", repositories = ".*"},
  repositories = function(name, params)
    return assert(regsh.regex.compile(params.repositories, "f")):test(name)
  end,
  select = function(repo, params)
    local rules = load_rules(params.file)
    -- images: manifests with ordinary tags, then the dangling ones
    local tags_of = {}
    for _, t in ipairs(repo.tags) do
      tags_of[t.digest] = tags_of[t.digest] or {}
      table.insert(tags_of[t.digest], t.name)
    end
    local images = repo.manifests:where(function(m) return tags_of[m.digest] ~= nil end)
      :union(repo.untagged)
    local claimed, expired = {}, {}
    for _, rule in ipairs(rules) do
      local candidates = images:where(function(m)
        return not claimed[m.digest] and selects(rule, m, tags_of[m.digest] or {})
      end)
      for _, m in ipairs(candidates) do claimed[m.digest] = true end
      local doomed
      if rule.count_type == "imageCountMoreThan" then
        doomed = candidates:sort_by_time():skip(rule.count)
      else
        doomed = candidates:older_than(rule.count * 86400)
      end
      for _, m in ipairs(doomed) do
        if m.time ~= nil then expired[#expired + 1] = {m, rule} end
      end
    end
    local out = {}
    for _, pair in ipairs(expired) do
      local m, rule = pair[1], pair[2]
      local reason = "expired by ECR lifecycle rule " .. rule.priority
      m.reason = reason
      for _, name in ipairs(tags_of[m.digest] or {}) do
        local t = repo:tag(name)
        t.reason = reason
        out[#out + 1] = t
      end
      out[#out + 1] = m
    end
    return out
  end,
}
