-- bench/purge_plan.lua [N]: planning cost of the purge engine, no registry:
-- build a synthetic repository of N tags (default 100,000) on N/2 manifests
-- (two tags each, times spread over 20 days) with regsh.purge.synthetic, then
-- plan acr purge's `--filter '.*:.*' --ago 10d --untagged` over it. Prints
--   "<build s> <plan s> <tags> <tags selected>"
-- Run by bench/purge; checks the count selected so a broken plan cannot look fast.
local synthetic = require("regsh.purge.synthetic").synthetic
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

local selected = repo.tags:older_than("10d")
local planned = regsh.async.monotonic()

-- ages 0.5 .. 19.5 days: those of m % 20 >= 10 are older than 10 days
local want = 0
for i = 1, n do if ((i - 1) % nman + 1) % 20 >= 10 then want = want + 1 end end
assert(#selected == want, ("selected %d tags, want %d"):format(#selected, want))
print(string.format("%.4f %.4f %d %d", built - start, planned - built, n, #selected))
