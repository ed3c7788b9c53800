-- regsh.registry.copy: copy an image (every platform of an index, their
-- configs and layers) from one repository to another, in one registry
-- (blobs mounted) or across registries (blobs streamed, GET into PATCHes,
-- in memory one chunk at a time). Reads everything first, so dry-run can say
-- what it would do.
-- src and dst are internal layers (layer.lua), not clients.
local async = require "regsh.async"
local blob = require "regsh.registry.blob"
local graph = require "regsh.registry.graph"
local manifest = require "regsh.registry.manifest"
local ref = require "regsh.registry.ref"

local M = {}

-- The manifests in the order to put them (children before their index) and
-- the blobs to copy, each once, from the walk of the top manifest's graph.
local function plan(src, repository, top)
  local manifests, blobs, seen = {}, {}, {}
  local ok, err, code = graph.walk(src, repository, top, function(m)
    manifests[#manifests + 1] = m
    for _, r in ipairs(manifest.references(m)) do
      local d = r.descriptor
      if (r.kind == "config" or r.kind == "layer") and not seen[d.digest] then
        seen[d.digest] = true
        blobs[#blobs + 1] = d
      end
    end
  end, {referrers = false})
  if not ok then return nil, err, code end
  return {manifests = manifests, blobs = blobs}
end

-- uploader() is the layer a streamed blob goes up through: dst, or when
-- src is dst a second layer like it, because a streamed GET holds one of
-- the layer's request slots while its PATCHes wait for another.
local function copy_blob(src, src_repo, dst, dst_repo, d, uploader)
  if dst:blob_head(dst_repo, d.digest) then return true end
  if src.host == dst.host then  -- one registry: link the blob, if dst may read the source
    local mounted, err, code = dst:blob_mount(dst_repo, d.digest, src_repo)
    if mounted == nil then return nil, err, code end
    if mounted then return true end
  end
  if type(d.urls) == "table" and #d.urls > 0 and not src:blob_head(src_repo, d.digest) then
    return true  -- a foreign layer: it lives at its URLs, not in the registry
  end
  return blob.stream(src, src_repo, uploader(), dst_repo, d)
end

-- Copy every blob, at most `concurrency` at once; the first failure wins.
local function copy_blobs(src, src_repo, dst, dst_repo, blobs, concurrency)
  local failures, jobs, second = {}, {}, nil
  local function uploader()
    if src ~= dst then return dst end
    second = second or dst:sibling()
    return second
  end
  for i, d in ipairs(blobs) do
    jobs[i] = function()
      local ok, err, code = copy_blob(src, src_repo, dst, dst_repo, d, uploader)
      if not ok then failures[#failures + 1] = {err, code} end
    end
  end
  async.gather(jobs, {concurrency = concurrency})
  if #failures > 0 then return nil, failures[1][1], failures[1][2] end
  return true
end

--- Copy src_string ("repo:tag", "repo@digest") of src to dst_string of dst
--- ("repo" alone takes the source's tag). Returns the digest | fail.
function M.copy(src, src_string, dst, dst_string)
  local s, err, code = ref.parse_local(src_string, src.host, true)
  if not s then return nil, err, code end
  local d
  d, err, code = ref.parse_local(dst_string, dst.host, false)
  if not d then return nil, err, code end
  if not d.tag and not d.digest then d.tag = s.tag end
  local top
  top, err, code = src:manifest(s.repository, s:ref())
  if not top then return nil, err, code end
  if d.digest and d.digest ~= top.digest then
    return nil, string.format("EDIGEST: copy %s to %s: the source has digest %s",
      s.string, d.string, top.digest), "EDIGEST"
  end
  local p
  p, err, code = plan(src, s.repository, top)
  if not p then return nil, err, code end
  local description = string.format("copy %s/%s to %s/%s (%d manifest(s), %d blob(s))", src.host,
    s:local_string(), dst.host, d.repository .. (d.tag and (":" .. d.tag) or ("@" .. top.digest)),
    #p.manifests, #p.blobs)
  local ok
  ok, err, code = dst:gate(description)
  if not ok then return nil, err, code end
  ok, err, code = copy_blobs(src, s.repository, dst, d.repository, p.blobs, dst.concurrency)
  if not ok then return nil, err, code end
  for i, m in ipairs(p.manifests) do
    local target = (i == #p.manifests and d.tag) or m.digest
    local put
    put, err, code = dst:put_manifest(d.repository, target, m.raw, m.media_type, m)
    if not put then return nil, err, code end
  end
  return top.digest
end

return M
