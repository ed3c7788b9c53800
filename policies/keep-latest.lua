-- policies/keep-latest.lua: keep the N newest tags of each repository (by each
-- tag's time: ACR's lastUpdateTime, else the image's created time, else when
-- regsh first saw it) and delete the other tags. Only tags the `tags` regex finds
-- are considered and counted; tags the `exclude` regex finds are never deleted;
-- tags without a known time are left alone. Manifests left without a tag are
-- not deleted here (run policies/dangling.lua for them).
--
-- params (defaults):
--   keep = 10            how many of the newest considered tags to keep
--   tags = ".*"          PCRE2 regex (searched) of the tags to consider
--   exclude = ""         PCRE2 regex of tags never to delete ("" = none)
--   repositories = ".*"  PCRE2 regex the whole repository name must match
--
-- example:
--   regsh purge --registry R --policy policies/keep-latest.lua --set keep=5 \
--     --set tags='^dev-' --set exclude='^dev-keep' --dry-run
return {
  description = "Keep the N newest tags of each repository; delete the rest",
  params = {keep = 10, tags = ".*", exclude = "", repositories = ".*"},
  repositories = function(name, params)
    return assert(regsh.regex.compile(params.repositories, "f")):test(name)
  end,
  select = function(repo, params)
    local tags = repo.tags:match(params.tags):where(function(t) return t.time ~= nil end)
    if params.exclude ~= "" then tags = tags:exclude(params.exclude) end
    local doomed = tags:sort_by_time():skip(params.keep)
    for _, t in ipairs(doomed) do
      t.reason = string.format("not among the %d newest tags", params.keep)
    end
    return doomed
  end,
}
