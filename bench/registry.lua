-- bench/registry.lua HOST REPO [PAGE_SIZE [CONCURRENCY]]: list every tag of
-- HOST/REPO (following Link pages) and HEAD every tag's manifest through
-- regsh.registry with CONCURRENCY tasks. Prints
--   "<total s> <list s> <heads s> <tags> <distinct digests>"
-- Run by bench/registry; every HEAD must succeed, so a broken run cannot look fast.
local registry = require "regsh.registry"
local async = require "regsh.async"

local host = assert(arg[1], "usage: registry.lua HOST REPO [PAGE_SIZE [CONCURRENCY]]")
local repo = assert(arg[2], "usage: registry.lua HOST REPO [PAGE_SIZE [CONCURRENCY]]")
local page_size = tonumber(arg[3]) or 100
local concurrency = tonumber(arg[4]) or 8

local reg = registry.open(host, {page_size = page_size, concurrency = concurrency})
local start = async.monotonic()
local tags = assert(reg:tags(repo))
local listed = async.monotonic()
local fns = {}
for i, t in ipairs(tags) do
  local name = t.name
  fns[i] = function() return assert(reg:head(repo, name)).digest end
end
local digests = async.gather(fns, {concurrency = concurrency})
local finished = async.monotonic()
local distinct, n = {}, 0
for i = 1, #tags do
  assert(digests[i], "no digest for " .. tags[i].name)
  if not distinct[digests[i]] then distinct[digests[i]] = true; n = n + 1 end
end
print(string.format("%.4f %.4f %.4f %d %d", finished - start, listed - start, finished - listed,
  #tags, n))
