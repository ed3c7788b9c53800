-- regsh.registry.referrers: the artifacts (signatures, SBOMs, attestations)
-- that refer to a manifest: the OCI 1.1 referrers API, else the tag schema
-- its spec defines for older registries (an index tagged sha256-<hex>) plus
-- cosign's sha256-<hex>.sig/.att/.sbom tags. Its functions take the internal
-- layer (layer.lua), whose put_manifest and delete call the bookkeeping here;
-- updates of one subject's index are serialised within the process.
local async = require "regsh.async"
local json = require "regsh.json"
local manifest = require "regsh.registry.manifest"
local names = require "regsh.registry.names"
local url = require "regsh.registry.url"

local M = {}

-- cosign's tag suffixes, with the artifact types cosign uses for them in OCI 1.1 mode
M.COSIGN_SUFFIXES = {
  {suffix = ".sig", kind = "signature",
   artifact_type = "application/vnd.dev.cosign.artifact.sig.v1+json"},
  {suffix = ".att", kind = "attestation",
   artifact_type = "application/vnd.dev.cosign.artifact.att.v1+json"},
  {suffix = ".sbom", kind = "sbom",
   artifact_type = "application/vnd.dev.cosign.artifact.sbom.v1+json"},
}

--- The fallback tag of a subject digest: "sha256:abc" -> "sha256-abc".
function M.fallback_tag(subject_digest)
  return (subject_digest:gsub(":", "-"))
end

local function keep_type(list, artifact_type)
  if not artifact_type then return list end
  local out = {}
  for _, d in ipairs(list) do
    if d.artifactType == artifact_type then out[#out + 1] = d end
  end
  return out
end

-- Registries without the API: the index under the fallback tag, and cosign's tags.
local function from_tags(layer, repository, subject_digest)
  local found = {}
  local tag = M.fallback_tag(subject_digest)
  local index, err, code = layer:manifest(repository, tag)
  if index then
    if manifest.is_index(index.media_type) then
      for _, d in ipairs(manifest.descriptors(index.manifests)) do found[#found + 1] = d end
    end
  elseif code ~= "ENOTFOUND" then
    return nil, err, code
  end
  for _, cosign in ipairs(M.COSIGN_SUFFIXES) do
    local head
    head, err, code = layer:head(repository, tag .. cosign.suffix)
    if head then
      found[#found + 1] = {mediaType = head.media_type, digest = head.digest, size = head.size,
        artifactType = cosign.artifact_type, kind = cosign.kind, tag = tag .. cosign.suffix}
    elseif code ~= "ENOTFOUND" then
      return nil, err, code
    end
  end
  return found
end

-- Updates of one subject's fallback index, serialised within this process
-- (a read-modify-write each): "host/repository@subject" -> {lock, users,
-- holder}. The holder (a coroutine) may enter again: a referrer's delete
-- holds it across its DELETE and the update of the index.
local updating = {}

local function holding(slot, fn)
  slot.holder = coroutine.running()
  local results = table.pack(pcall(fn))
  slot.holder = nil
  return results
end

--- Call fn() with the fallback index of subject_digest to itself among this
--- process's tasks; returns what fn returns (an error in fn is raised again).
function M.serialised(layer, repository, subject_digest, fn)
  local key = layer.host .. "/" .. repository .. "@" .. subject_digest
  local slot = updating[key]
  if slot and slot.holder == coroutine.running() then return fn() end
  if not slot then
    slot = {lock = async.semaphore(1), users = 0}
    updating[key] = slot
  end
  slot.users = slot.users + 1
  local ok, results = pcall(slot.lock.run, slot.lock, holding, slot, fn)
  slot.users = slot.users - 1
  if slot.users == 0 then updating[key] = nil end
  if not ok then error(results, 0) end
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

-- How often an update re-reads the index after writing it, and writes again
-- when another process's write (read before ours) dropped our change.
local ROUNDS = 5

-- Read the subject's fallback index, let change(entries) say what it should
-- list (entries, changed), write that (an empty index is deleted), and read
-- again until the index holds the change. Returns true | fail.
local function update(layer, repository, subject_digest, change)
  local tag = M.fallback_tag(subject_digest)
  return M.serialised(layer, repository, subject_digest, function()
    for _ = 1, ROUNDS do
      local index, err, code = layer:manifest(repository, tag)
      if not index and code ~= "ENOTFOUND" then return nil, err, code end
      local entries = {}
      if index and manifest.is_index(index.media_type) then
        entries = manifest.descriptors(index.manifests)
      end
      local wanted, changed = change(entries)
      if not changed then return true end
      local ok
      if #wanted == 0 then
        ok, err, code = layer:delete(repository, index.digest)
      else
        local new = {schemaVersion = 2, mediaType = manifest.OCI_INDEX,
                     manifests = json.array(wanted)}
        ok, err, code = layer:put_manifest(repository, tag, json.encode(new), manifest.OCI_INDEX,
          new)
      end
      if not ok then return nil, err, code end
    end
    layer.transport:log("warn", string.format("%s: the fallback index %s kept changing under "
      .. "other writers; it may not list every referrer", names.display(layer.host, repository),
      tag))
    return true
  end)
end

--- After a manifest with a subject was pushed to a registry without the
--- referrers API (no OCI-Subject header in the answer), add it to the index
--- under the fallback tag, as OCI 1.1 asks of the pushing client. m is the
--- decoded manifest, raw its bytes. Returns true | nil, err, code.
function M.record_in_fallback(layer, repository, m, raw, media_type, digest)
  -- an image manifest without artifactType is listed under its config's type
  local artifact_type = m.artifactType
  if artifact_type == nil and type(m.config) == "table" then artifact_type = m.config.mediaType end
  local entry = {mediaType = media_type, digest = digest, size = #raw,
                 artifactType = artifact_type, annotations = m.annotations}
  return update(layer, repository, m.subject.digest, function(entries)
    for _, d in ipairs(entries) do
      if d.digest == digest then return entries, false end
    end
    entries[#entries + 1] = entry
    return entries, true
  end)
end

--- After a referrer (digest) of subject_digest was deleted, take it out of
--- the subject's fallback index, the other half of record_in_fallback. An
--- index left empty is deleted (with it goes its tag). Registries with the
--- referrers API have no such index: nothing to do. Returns true | fail.
function M.forget_in_fallback(layer, repository, subject_digest, digest)
  return update(layer, repository, subject_digest, function(entries)
    local kept = {}
    for _, d in ipairs(entries) do
      if d.digest ~= digest then kept[#kept + 1] = d end
    end
    return kept, #kept < #entries
  end)
end

--- Descriptors of the manifests whose subject is subject_digest, optionally
--- only those of artifact_type.
function M.list(layer, repository, subject_digest, artifact_type)
  local what = names.display(layer.host, repository, subject_digest)
  local query = artifact_type and ("?" .. url.query({{"artifactType", artifact_type}})) or ""
  local res, err, code = layer.transport:request({method = "GET", what = what,
    path = "/v2/" .. repository .. "/referrers/" .. subject_digest .. query,
    headers = {Accept = manifest.OCI_INDEX}, scopes = {names.scope(repository, "pull")}})
  if not res then return nil, err, code end
  -- 404 (or 400/405 from registries that route it elsewhere): no referrers API here
  if res.status == 404 or res.status == 400 or res.status == 405 then
    local list
    list, err, code = from_tags(layer, repository, subject_digest)
    if not list then return nil, err, code end
    return keep_type(list, artifact_type)
  end
  if res.status ~= 200 then return layer.transport:status_error(res, what, "referrers of") end
  local index
  index, err, code = layer.transport:decode_json(res, what .. " referrers")
  if not index then return nil, err, code end
  local list = manifest.descriptors(index.manifests)
  -- a registry that ignored the filter says so by omitting OCI-Filters-Applied
  local applied = (res.headers["oci-filters-applied"] or ""):find("artifactType", 1, true)
  if applied then return list end
  return keep_type(list, artifact_type)
end

return M
