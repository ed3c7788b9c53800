-- A daily autopurge as a script (what `acr purge --filter 'app/.*:^dev-'
-- --ago 10d --keep 2` does), dry run unless --apply is given:
--   regsh scripts/examples/autopurge.lua HOST [--apply]
-- Deleting a digest removes every tag on it, so a digest that a kept tag
-- also points at is never deleted; the tag alone is untagged (on
-- distribution 2.8 by a throwaway manifest), and reported where the registry
-- refuses deletes.
local policy = {
  repositories = "^app/",   -- Lua pattern on repository names
  tags = "^dev%-",          -- Lua pattern on tag names
  ago = "10d",               -- only tags whose image is older than this (regsh.time durations)
  keep = 2,                 -- always keep this many of the newest matching tags
}

local host = arg[1] or error("usage: regsh autopurge.lua HOST [--apply]", 0)
local apply = arg[2] == "--apply"
-- the client logs each refused write as "would ..."; this script prints its
-- own line per tag, so only warnings (retries) go to stderr
local function warnings_only(level, message)
  if level == "warn" or level == "error" then io.stderr:write("regsh: ", level, ": ", message, "\n") end
end
local reg = regsh.registry.open(host, {dry_run = not apply, log = warnings_only})

-- an image config's `created` (RFC 3339) as epoch seconds; nil when absent or unreadable
local function epoch(created)
  if type(created) ~= "string" then return nil end
  return (regsh.time.parse_rfc3339(created))
end

-- every tag of a repository with its digest and creation time, fetched concurrently
local function inventory(repo)
  local tags = assert(reg:tags(repo))
  local jobs = {}
  for i, tag in ipairs(tags) do
    jobs[i] = function()
      local manifest = assert(reg:manifest(repo, tag.name))
      local config = assert(reg:config(repo, manifest))
      return {name = tag.name, digest = manifest.digest, created = epoch(config.created)}
    end
  end
  return regsh.gather(jobs, {concurrency = 8})
end

local cutoff = regsh.time.now() - assert(regsh.time.parse_duration(policy.ago))
local deleted, kept = 0, 0
for _, repo in ipairs(assert(reg:repositories(policy.repositories))) do
  local tags = inventory(repo)
  table.sort(tags, function(a, b) return (a.created or 0) > (b.created or 0) end)
  local doomed, keep_digests, matching = {}, {}, 0
  for _, tag in ipairs(tags) do
    local matches = tag.name:find(policy.tags) ~= nil
    if matches then matching = matching + 1 end
    if matches and matching > policy.keep and tag.created and tag.created < cutoff then
      doomed[#doomed + 1] = tag
    else
      keep_digests[tag.digest] = tag.name
    end
  end
  for _, tag in ipairs(doomed) do
    local shared_with = keep_digests[tag.digest]
    local ok, err, code
    if shared_with then
      ok, err, code = reg:untag(repo, tag.name)
      if code == "ENOTSUP" then err = "kept: its digest is also tagged " .. shared_with end
    else
      ok, err, code = reg:delete(repo, tag.digest)
    end
    if ok then
      deleted = deleted + 1
      print(string.format("deleted %s:%s (%s)", repo, tag.name, tag.digest))
    elseif code == "EDRYRUN" then
      deleted = deleted + 1
      print(string.format("would delete %s:%s (%s)", repo, tag.name, tag.digest))
    else
      kept = kept + 1
      print(string.format("skipped %s:%s: %s", repo, tag.name, err))
    end
  end
end
print(string.format("%s: %d tag(s) %s, %d skipped", host, deleted,
  apply and "deleted" or "would be deleted (dry run; add --apply)", kept))
