-- policies/acr-purge.lua: acr purge's rules, which is what `regsh purge` runs
-- when given flags instead of --policy. Each flag is a parameter:
--
--   filter        {"REPO:TAG", ...}  repository regex (anchored: the whole name) and tag regex
--                 (searched: anywhere in the tag), PCRE2 with lookarounds; several filters
--                 on one repository are OR-ed. `:` inside (?:...), (?i:...) and [...]
--                 does not split.
--   ago           "10d", "2d3h6m", "1h": only tags (and untagged manifests) older than this;
--                 "0d" means every age. Required unless untagged_only.
--   keep          N: of the tags selected so far, keep the N newest (acr's meaning: "the N
--                 latest to-be-deleted"), and the N newest dangling manifests likewise.
--   untagged      also delete the manifests left without tags (older than ago).
--   untagged_only delete only dangling manifests, never a tag; filter optional (its
--                 repository part picks the repositories, else every one).
--   exclude       {"REGEX", ...}: tags never deleted (e.g. "^latest$"), searched like tags.
--   keep_newest   N: the N newest tags of the repository are never deleted, matching or not.
--   keep_semver   N: the N highest semantic-version tags are never deleted.
--   include_locked  locked tags count as selected (the engine unlocks nothing by itself).
--
-- Example: regsh purge --registry R --filter 'app/.*:^dev-' --ago 10d --keep 3 --untagged
-- is the same as: regsh purge --registry R --policy acr-purge --set 'filter=app/.*:^dev-'
--   --set ago=10d --set keep=3 --set untagged=true
local regex = regsh.regex

-- The index of the `:` that separates REPO from TAG, or nil: not one inside a
-- character class ([[:alpha:]], [^:]) or ending a group's flags ((?:, (?i:).
local function separator(filter)
  local i, class, found = 1, false, nil
  while i <= #filter do
    local c = filter:sub(i, i)
    if c == "\\" then
      i = i + 1
    elseif class then
      if c == "[" and filter:sub(i + 1, i + 1) == ":" then   -- [:alpha:] inside a class
        local close = filter:find(":]", i + 2, true)
        if close then i = close + 1 end
      elseif c == "]" then
        class = false
      end
    elseif c == "[" then
      class = true
      if filter:sub(i + 1, i + 1) == "^" then i = i + 1 end
      if filter:sub(i + 1, i + 1) == "]" then i = i + 1 end   -- a leading ] is literal
    elseif c == "(" and filter:sub(i + 1, i + 1) == "?" then
      local flags_end = filter:match("^[imsxnU%-]*():", i + 2)
      if flags_end then i = flags_end end
    elseif c == ":" then
      if found then return nil, "more than one ':' outside groups and classes" end
      found = i
    end
    i = i + 1
  end
  if not found then return nil, "no ':' between the repository and the tag expression" end
  return found
end

local function compile(pattern, what)
  local re, err = regex.compile(pattern)
  if not re then error(what .. ": " .. err, 0) end
  return re
end

-- params -> {filters = {{repo = re, tag = re, text}}, exclude = {re}} (cached per params)
local parsed = setmetatable({}, {__mode = "k"})
local function parse(params)
  if parsed[params] then return parsed[params] end
  local out = {filters = {}, exclude = {}}
  for _, text in ipairs(params.filter) do
    local at, why = separator(text)
    if not at then error(string.format("--filter '%s': %s (write REPO:TAG, e.g. 'app:^dev-')",
      text, why), 0) end
    local repo, tag = text:sub(1, at - 1), text:sub(at + 1)
    if repo == "" then error("--filter '" .. text .. "': the repository expression is empty", 0) end
    if tag == "" then error("--filter '" .. text .. "': the tag expression is empty", 0) end
    local label = "--filter '" .. text .. "'"
    out.filters[#out.filters + 1] = {text = text, label = label, reason = "matches " .. text,
      repo = compile("^(?:" .. repo .. ")$", label), tag = compile(tag, label)}
  end
  for _, text in ipairs(params.exclude) do
    out.exclude[#out.exclude + 1] = compile(text, "--exclude '" .. text .. "'")
  end
  parsed[params] = out
  return out
end

local function test(re, s, what)
  local ok, err = re:test(s)
  if ok == nil and err then error(what .. ": " .. err, 0) end
  return ok
end

local function filters_of(params, name)
  local mine = {}
  for _, f in ipairs(parse(params).filters) do
    if test(f.repo, name, f.label) then mine[#mine + 1] = f end
  end
  return mine
end

local function count(params, key)
  local n = params[key]
  if math.type(n) ~= "integer" or n < 0 then
    error(string.format("--%s must be a whole number >= 0, got %s", key:gsub("_", "-"),
      tostring(n)), 0)
  end
  return n
end

local function age(params, what)
  local seconds, err = regsh.time.parse_duration(params.ago)
  if not seconds then error(what .. " " .. params.ago .. ": " .. err, 0) end
  return seconds
end

local function describe(seconds)
  return seconds == 0 and "any age" or ("older than " .. regsh.time.format_duration(seconds))
end

return {
  description = "acr purge: tags matching --filter older than --ago, less --keep; "
    .. "--untagged / --untagged-only for dangling manifests",
  params = {filter = {}, ago = "", keep = 0, untagged = false, untagged_only = false,
            exclude = {}, keep_newest = 0, keep_semver = 0, include_locked = false},

  -- every check before any request: a bad flag stops the run before it starts
  check = function(params)
    if params.untagged and params.untagged_only then
      error("--untagged and --untagged-only exclude each other", 0)
    end
    if not params.untagged_only then
      if #params.filter == 0 then error("--filter is required (or --untagged-only)", 0) end
      if params.ago == "" then error("--ago is required (or --untagged-only); 0d means any age", 0) end
    end
    if params.ago ~= "" then age(params, "--ago") end
    for _, key in ipairs({"keep", "keep_newest", "keep_semver"}) do count(params, key) end
    parse(params)
    return true
  end,

  repositories = function(name, params)
    if params.untagged_only and #params.filter == 0 then return true end
    return #filters_of(params, name) > 0
  end,

  select = function(repo, params)
    local cutoff = params.ago ~= "" and age(params, "--ago") or 0
    local chosen, locked = regsh.list({}, repo.now), {}
    local kept_anyway, why = {}, {}
    if params.keep_newest > 0 then
      for _, t in ipairs(repo.tags:sort_by_time():first(params.keep_newest)) do
        kept_anyway[t.name] = true
      end
    end
    if params.keep_semver > 0 then
      for _, t in ipairs(repo.tags:sort_by_semver():first(params.keep_semver)) do
        if regsh.semver.parse(t.name) then kept_anyway[t.name] = true end
      end
    end
    if not params.untagged_only then
      local filters = filters_of(params, repo.name)
      local exclude = parse(params).exclude
      local matching = repo.tags:where(function(t)
        if kept_anyway[t.name] then return false end
        for _, re in ipairs(exclude) do
          if test(re, t.name, "--exclude") then return false end
        end
        for _, f in ipairs(filters) do
          if test(f.tag, t.name, f.label) then
            why[t.name] = f.reason
            return true
          end
        end
        return false
      end):older_than(cutoff)
      -- as acr purge: locked tags are not eligible, and --keep counts without them;
      -- they still go to the engine, whose plan then shows them kept as locked
      local unlocked = function(t) return params.include_locked or not t.locked end
      chosen = matching:where(unlocked):sort_by_time():skip(params.keep)
      locked = matching:where(function(t) return not unlocked(t) end)
    end
    local out, age_text, reasons = {}, describe(cutoff), {}
    for _, t in ipairs(chosen) do
      local filter_reason = why[t.name]
      local reason = reasons[filter_reason]
      if not reason then
        reason = filter_reason .. ", " .. age_text
        reasons[filter_reason] = reason
      end
      out[#out + 1] = {kind = "tag", name = t.name, reason = reason}
    end
    for _, t in ipairs(locked) do
      out[#out + 1] = {kind = "tag", name = t.name, reason = why[t.name] .. ", " .. age_text}
    end
    if params.untagged or params.untagged_only then
      local dangling = (params.untagged_only and repo.untagged or repo:dangling(chosen))
        :where(function(m) return params.include_locked or not m.locked end)
        :older_than(cutoff):sort_by_time():skip(params.keep)
      local once_untagged = "untagged once its tags go, " .. age_text
      local untagged = "untagged, " .. age_text
      for _, m in ipairs(dangling) do
        out[#out + 1] = {kind = "manifest", digest = m.digest,
          reason = #m.tags > 0 and once_untagged or untagged}
      end
    end
    return out
  end,
}
