-- bench/purge_seed.lua HOST PREFIX REPOS TAGS [MANIFESTS [CONCURRENCY]]: seed
-- REPOS repositories PREFIX00 .. with TAGS tags each (t00000 ..), spread over
-- MANIFESTS distinct manifests per repository (default: one per tag; tag i
-- points at manifest i % MANIFESTS). All share one small layer; each manifest
-- has its own config whose `created` is (m % 20) + 0.5 days before now, so
-- half the manifests are older than 10 days. Prints
--   "<seconds> <tags> <manifests> <old manifests>"
-- Run by bench/purge; every upload must succeed, so a short seed cannot pass.
local json = regsh.json
local usage = "usage: purge_seed.lua HOST PREFIX REPOS TAGS [MANIFESTS [CONCURRENCY]]"
local host = assert(arg[1], usage)
local prefix = assert(arg[2], usage)
local nrepos = assert(tonumber(arg[3]), usage)
local ntags = assert(tonumber(arg[4]), usage)
local nman = tonumber(arg[5]) or ntags
local concurrency = tonumber(arg[6]) or 16
local DAY = 86400
local OCI = "application/vnd.oci.image.manifest.v1+json"

local reg = regsh.registry.open(host, {concurrency = concurrency})
local start = regsh.async.monotonic()
local now = os.time()
local layer = "regsh purge bench layer\n"

local function age_days(m) return m % 20 + 0.5 end

-- one repository's manifests, each pushed under its first tag
local function manifest_job(repo, layer_digest, m)
  return function()
    local config = json.encode({
      architecture = "amd64", os = "linux",
      created = os.date("!%Y-%m-%dT%H:%M:%SZ", now - math.floor(age_days(m) * DAY)),
      config = {Labels = {["org.regsh.bench"] = repo .. "/" .. m}},
      rootfs = {type = "layers", diff_ids = json.array({})},
    })
    local config_digest = assert(reg:blob_upload(repo, config))
    local manifest = json.encode({
      schemaVersion = 2, mediaType = OCI,
      config = {mediaType = "application/vnd.oci.image.config.v1+json",
                digest = config_digest, size = #config},
      layers = {{mediaType = "application/vnd.oci.image.layer.v1.tar",
                 digest = layer_digest, size = #layer}},
    })
    assert(reg:put_manifest(repo, string.format("t%05d", m), manifest, OCI))
    return manifest
  end
end

local repos, jobs = {}, {}
for r = 1, nrepos do repos[r] = string.format("%s%02d", prefix, r - 1) end
local layers = regsh.gather((function()
  local fns = {}
  for r, repo in ipairs(repos) do fns[r] = function() return assert(reg:blob_upload(repo, layer)) end end
  return fns
end)(), {concurrency = concurrency})
for r, repo in ipairs(repos) do
  for m = 0, math.min(nman, ntags) - 1 do jobs[#jobs + 1] = manifest_job(repo, layers[r], m) end
end
local manifests = regsh.gather(jobs, {concurrency = concurrency})

-- the other tags: the same manifests again under more names
jobs = {}
local per_repo = math.min(nman, ntags)
for r, repo in ipairs(repos) do
  for i = per_repo, ntags - 1 do
    local raw = manifests[(r - 1) * per_repo + i % nman + 1]
    jobs[#jobs + 1] = function() return assert(reg:put_manifest(repo, string.format("t%05d", i), raw, OCI)) end
  end
end
regsh.gather(jobs, {concurrency = concurrency})

local old = 0
for m = 0, per_repo - 1 do if age_days(m) > 10 then old = old + 1 end end
print(string.format("%.3f %d %d %d", regsh.async.monotonic() - start, nrepos * ntags,
  nrepos * per_repo, nrepos * old))
