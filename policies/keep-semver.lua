-- policies/keep-semver.lua: keep the highest semantic-version tags and delete
-- the other version tags. A tag is a version when regsh.semver parses it
-- ("v1.2.3", "1.2", "2.0.0-rc.1"; not "latest" or "20240101"). Kept: the `keep`
-- highest versions, plus the `per_major` highest of each major version and the
-- `per_minor` highest of each major.minor (a tag any of these keeps stays).
-- Tags that are not versions are left alone unless `delete_other` is true.
--
-- params (defaults):
--   keep = 5              the N highest versions overall to keep
--   per_major = 0         also keep the N highest of each major (0: no such rule)
--   per_minor = 0         also keep the N highest of each major.minor (0: none)
--   prerelease = true     count pre-releases (1.0.0-rc.1) as versions; false: leave them alone
--   delete_other = false  also delete tags that are not versions
--   exclude = ""          PCRE2 regex of tags never to delete ("" = none)
--   repositories = ".*"   PCRE2 regex the whole repository name must match
--
-- example:
--   regsh purge --registry R --policy policies/keep-semver.lua --set keep=3 \
--     --set per_major=1 --dry-run
local function is_version(params)
  return function(t)
    local v = regsh.semver.parse(t.name)
    return v ~= nil and (params.prerelease or #v.prerelease == 0)
  end
end

-- The `n` highest of each group of `versions` that key(version) names.
local function highest_per(versions, n, key)
  local kept = {}
  if n <= 0 then return kept end
  for _, group in pairs(versions:group(function(t) return key(regsh.semver.parse(t.name)) end)) do
    for _, t in ipairs(group:sort_by_semver():first(n)) do kept[#kept + 1] = t end
  end
  return kept
end

return {
  description = "Keep the N highest semver tags (optionally N per major/minor); delete the rest",
  params = {keep = 5, per_major = 0, per_minor = 0, prerelease = true, delete_other = false,
            exclude = "", repositories = ".*"},
  repositories = function(name, params)
    return assert(regsh.regex.compile(params.repositories, "f")):test(name)
  end,
  select = function(repo, params)
    local versions = repo.tags:where(is_version(params))
    local kept = versions:sort_by_semver():first(params.keep)
      :union(highest_per(versions, params.per_major, function(v) return v.major end))
      :union(highest_per(versions, params.per_minor,
        function(v) return v.major .. "." .. v.minor end))
    local doomed = versions:minus(kept)
    for _, t in ipairs(doomed) do t.reason = "not among the versions kept" end
    if params.delete_other then
      local other = repo.tags:where(function(t) return regsh.semver.parse(t.name) == nil end)
      for _, t in ipairs(other) do t.reason = "not a version" end
      doomed = doomed:union(other)
    end
    if params.exclude ~= "" then doomed = doomed:exclude(params.exclude) end
    return doomed:sort_by_semver()
  end,
}
