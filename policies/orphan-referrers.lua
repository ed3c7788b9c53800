-- policies/orphan-referrers.lua: delete referrers whose subject is gone from the
-- repository: manifests whose `subject` names a digest the repository no longer
-- holds, and tags of the referrer tag schema (sha256-<hex>, cosign's
-- sha256-<hex>.sig/.att/.sbom) whose digest is gone. A referrer can be pushed
-- before its subject, so only orphans older than `older` go.
--
-- params (defaults):
--   older = "1d"         the age an orphan must exceed ("0d": any age)
--   repositories = ".*"  PCRE2 regex the whole repository name must match
--
-- example:
--   regsh purge --registry R --policy policies/orphan-referrers.lua --set older=0d --dry-run
local function subject_of_tag(name)
  local hex = name:match("^sha256%-(" .. string.rep("[0-9a-f]", 64) .. ")")
  return hex and "sha256:" .. hex or nil
end

return {
  description = "Delete referrers (signatures, SBOMs...) whose subject no longer exists",
  params = {older = "1d", repositories = ".*"},
  repositories = function(name, params)
    return assert(regsh.regex.compile(params.repositories, "f")):test(name)
  end,
  select = function(repo, params)
    local manifests = repo.manifests:where(function(m)
      return m.subject ~= nil and repo:manifest(m.subject) == nil
    end):older_than(params.older)
    local tags = repo.referrer_tags:where(function(t)
      local subject = subject_of_tag(t.name)
      return subject ~= nil and repo:manifest(subject) == nil
    end):older_than(params.older)
    for _, m in ipairs(manifests) do m.reason = "subject " .. m.subject .. " is gone" end
    for _, t in ipairs(tags) do t.reason = "subject " .. subject_of_tag(t.name) .. " is gone" end
    return manifests:union(tags)
  end,
}
