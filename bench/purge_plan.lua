-- bench/purge_plan.lua [N]: planning cost of the purge engine, no registry:
-- build a synthetic repository of N tags (default 100,000) on N/2 manifests
-- (two tags each, times spread over 20 days) with regsh.purge.synthetic, then
-- plan acr purge's `--filter '.*:.*' --ago 10d --untagged` over it the way
-- regsh.purge.plan does for each repository (lua/regsh/purge/init.lua): the
-- engine's snapshot and the acr-purge policy's select (regsh.purge.policy),
-- then the safety rules (regsh.purge.plan). Prints
--   "<build s> <plan s> <tags> <tags to delete> <snapshot+select s> <safety rules s>"
-- Run by bench/purge; checks the count planned so a broken plan cannot look fast.
local synthetic = require("regsh.purge.synthetic").synthetic
local policy_mod = require "regsh.purge.policy"
local planner = require "regsh.purge.plan"
local n = tonumber(arg[1]) or 100000
local now, DAY = 1700000000, 86400

local start = regsh.async.monotonic()
local tags, manifests = {}, {}
local nman = n // 2
for m = 1, nman do
  manifests[m] = {digest = string.format("sha256:%064x", m), size = 1000,
                  created = now - ((m % 20) * DAY + DAY // 2)}
end
for i = 1, n do
  tags[i] = {name = string.format("v%d.%d.%d", i // 10000, i // 100 % 100, i % 100),
             digest = manifests[(i - 1) % nman + 1].digest}
end
local repo = synthetic{name = "bench/app", now = now, tags = tags, manifests = manifests}
local built = regsh.async.monotonic()

local policy = assert(policy_mod.load("acr-purge"))
local params = assert(policy_mod.params(policy, {filter = {".*:.*"}, ago = "10d", untagged = true}))
local snap = planner.snapshot(repo)
local selection = assert(policy_mod.select(policy, repo, params, snap))
local selected = regsh.async.monotonic()
local plan = planner.repo(snap, selection, {})
local planned = regsh.async.monotonic()

-- ages 0.5 .. 19.5 days: those of m % 20 >= 10 are older than 10 days
local want = 0
for i = 1, n do if ((i - 1) % nman + 1) % 20 >= 10 then want = want + 1 end end
assert(plan.tags == want, ("planned %d tag deletes, want %d"):format(plan.tags, want))
print(string.format("%.4f %.4f %d %d %.4f %.4f", built - start, planned - built, n, plan.tags,
  selected - built, planned - selected))
