-- tests/support/content.lua: small images and artifacts built in Lua and
-- pushed with the client under test (for registries curl cannot seed easily,
-- e.g. behind token auth), plus helpers the registry specs share.
local cjson = require "cjson"
local digest = require "regsh.digest"

local M = {}

M.OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
M.OCI_INDEX = "application/vnd.oci.image.index.v1+json"
M.OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
M.OCI_EMPTY = "application/vnd.oci.empty.v1+json"
M.DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
M.DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

M.sha256 = function(s) return digest.string(s) end

--- Push a one-layer OCI image with the client `reg`. Returns manifest digest,
--- raw manifest, {config = d, layer = d}. opts: label, arch, created.
function M.push_image(reg, repo, tag, opts)
  opts = opts or {}
  local config = cjson.encode({
    architecture = opts.arch or "amd64", os = "linux",
    created = opts.created or "2024-01-02T03:04:05Z",
    config = {Labels = {["org.regsh.label"] = opts.label or tag}},
    rootfs = {type = "layers", diff_ids = {}},
  })
  local layer = "layer of " .. repo .. ":" .. tag .. " " .. (opts.label or "")
  local cd, err, code = reg:blob_upload(repo, config)
  if not cd then return nil, err, code end
  local ld
  ld, err, code = reg:blob_upload(repo, layer)
  if not ld then return nil, err, code end
  assert(cd == digest.string(config), "blob_upload returned a wrong config digest")
  assert(ld == digest.string(layer), "blob_upload returned a wrong layer digest")
  local raw = string.format('{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s",'
    .. '"digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",'
    .. '"digest":"%s","size":%d}]}', M.OCI_MANIFEST, M.OCI_CONFIG, cd, #config, ld, #layer)
  local md
  md, err, code = reg:put_manifest(repo, tag, raw, M.OCI_MANIFEST)
  if not md then return nil, err, code end
  return md, raw, {config = cd, layer = ld}
end

--- An OCI 1.1 artifact manifest (empty config) whose subject is `subject`
--- ({digest, size, mediaType}); its blobs must be uploaded with push_artifact.
function M.artifact(subject, artifact_type, payload_digest, payload_size)
  return string.format('{"schemaVersion":2,"mediaType":"%s","artifactType":"%s",'
    .. '"config":{"mediaType":"%s","digest":"%s","size":2},'
    .. '"layers":[{"mediaType":"application/octet-stream","digest":"%s","size":%d}],'
    .. '"subject":{"mediaType":"%s","digest":"%s","size":%d},'
    .. '"annotations":{"org.opencontainers.image.created":"2024-05-06T07:08:09Z"}}',
    M.OCI_MANIFEST, artifact_type, M.OCI_EMPTY, digest.string("{}"), payload_digest,
    payload_size, subject.mediaType, subject.digest, subject.size)
end

--- Upload the blobs of an artifact and push it by digest. Returns digest, raw.
function M.push_artifact(reg, repo, subject, artifact_type, payload)
  -- the empty config is shared by every artifact: upload it only when absent
  if not reg:blob_head(repo, digest.string("{}")) then assert(reg:blob_upload(repo, "{}")) end
  local pd = assert(reg:blob_upload(repo, payload))
  local raw = M.artifact(subject, artifact_type, pd, #payload)
  local d = digest.string(raw)
  local got, err, code = reg:put_manifest(repo, d, raw, M.OCI_MANIFEST)
  if not got then return nil, err, code end
  return got, raw
end

--- Set of the values of field `key` (or the values themselves) -> {value = count}
function M.count_by(list, key)
  local seen = {}
  for _, v in ipairs(list) do
    local k = key and v[key] or v
    seen[k] = (seen[k] or 0) + 1
  end
  return seen
end

--- Collect every log line a client writes: opts.log = sink.fn; sink.lines
function M.log_sink()
  local sink = {lines = {}}
  sink.fn = function(level, message)
    sink.lines[#sink.lines + 1] = tostring(level) .. " " .. tostring(message)
  end
  function sink.text() return table.concat(sink.lines, "\n") end
  return sink
end

return M
