-- filter.lua: fuzz driver of `regsh purge --filter REPO:TAG` and --exclude
-- (the acr-purge policy's parser: the ':' outside groups and classes, then
-- PCRE2), through the engine as regsh purge runs it: params, check, the
-- repositories a filter wants, and select on a small repository. Each line
-- of the input is a filter; a line starting with '!' is an --exclude. Every
-- step returns its result or nil, "EINVAL: ..."; nothing raises.
local contract = require "contract"
local policy = require "regsh.purge.policy"
local plan = require "regsh.purge.plan"
local synthetic = require "regsh.purge.synthetic"

local EINVAL = {EINVAL = true}
local acr_purge = assert(policy.load("acr-purge"))
local NOW = 1700000000
local function H(c) return "sha256:" .. string.rep(c, 64) end
local repo = synthetic{name = "app/web", now = NOW, tags = {
  {name = "v1.0.0", digest = H"1", time = NOW - 40 * 86400},
  {name = "dev-1", digest = H"2", time = NOW - 20 * 86400},
  {name = "latest", digest = H"3", time = NOW - 86400},
  {name = "sha256-" .. string.rep("1", 64) .. ".sig", digest = H"4", time = NOW - 30 * 86400},
}}
local NAMES = {"app/web", "app", "library/busybox", "a/b/c", "x"}

return contract.driver(function(text)
  local filter, exclude = {}, {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if line:sub(1, 1) == "!" then exclude[#exclude + 1] = line:sub(2)
    else filter[#filter + 1] = line end
  end
  local params = contract.check("params", policy.params, EINVAL, acr_purge,
    {filter = filter, exclude = exclude, ago = "1d", untagged = true, keep = 1})
  if params == nil then return end
  if contract.check("check", policy.check, EINVAL, acr_purge, params) == nil then return end
  for _, name in ipairs(NAMES) do
    contract.check("wants", policy.wants, EINVAL, acr_purge, name, params)
  end
  local snap = plan.snapshot(repo)
  local chosen = contract.check("select", policy.select, EINVAL, acr_purge, repo, params, snap)
  if chosen then
    contract.expect(#chosen.tags <= #repo.tags, "select chose %d of %d tags", #chosen.tags,
      #repo.tags)
  end
end)
