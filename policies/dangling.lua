-- policies/dangling.lua: delete untagged manifests older than an age: manifests
-- with no tag that no tagged manifest reaches (not a child of a tagged index, not
-- a referrer of a tagged image). An index goes with its children, and referrers
-- with their subject (the engine does both). A manifest without a known time is
-- never old, so it stays.
--
-- params (defaults):
--   older = "1d"         the age a dangling manifest must exceed ("0d": any age)
--   repositories = ".*"  PCRE2 regex the whole repository name must match
--
-- example:
--   regsh purge --registry R --policy policies/dangling.lua --set older=7d --dry-run
return {
  description = "Delete untagged manifests older than an age",
  params = {older = "1d", repositories = ".*"},
  repositories = function(name, params)
    return assert(regsh.regex.compile(params.repositories, "f")):test(name)
  end,
  select = function(repo, params)
    local doomed = repo.untagged:older_than(params.older)
    for _, m in ipairs(doomed) do
      m.reason = "untagged and older than " .. tostring(params.older)
    end
    return doomed
  end,
}
