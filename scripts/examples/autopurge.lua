-- A daily autopurge as a script, with its policy written in Lua: in every
-- app/* repository, the dev- tags older than 10 days go, but never the two
-- newest dev- tags, and the manifests they leave untagged go with them.
-- Dry run unless --apply is given:
--   regsh scripts/examples/autopurge.lua HOST [--apply]
-- The engine (regsh.purge) does the rest: it never deletes a manifest a kept
-- tag points at, untags a tag whose digest a kept tag shares, and keeps
-- children of kept indexes and subjects of kept referrers.
local host = arg[1] or error("usage: regsh autopurge.lua HOST [--apply]", 0)
local apply = arg[2] == "--apply"

local policy = {
  description = "dev- tags of app/* older than 10 days, but never the newest two",
  repositories = function(name) return name:find("^app/") ~= nil end,
  select = function(repo)
    local old = repo.tags:match("^dev-"):sort_by_time():skip(2):older_than("10d")
    return old:union(repo:dangling(old))
  end,
}

local reg = assert(regsh.registry.open(host, {dry_run = not apply}))
local plan = assert(regsh.purge.plan(reg, policy))
print(plan:table())
if apply then
  local result = assert(plan:apply{concurrency = 8})
  print(string.format("%s: %d tag(s) and %d manifest(s) deleted, %d failed", host, result.tags,
    result.manifests, #result.failed))
else
  print(plan:summary() .. " (dry run; add --apply)")
end
