-- regsh.registry.manifest: manifest media types, the Accept header, the
-- checks on what a registry hands back (the body is JSON of a known shape and
-- hashes to the digest asked for, or announced in Docker-Content-Digest), and
-- the throwaway manifest untag pushes to a tag on registries that delete by
-- digest only.
local json = require "regsh.json"
-- on first use: a HEAD or a manifest read by tag needs neither (libcrypto)
local digest = require("regsh.lazy")("regsh.digest")
local time = require("regsh.lazy")("regsh.time")

local M = {}

M.OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
M.OCI_INDEX = "application/vnd.oci.image.index.v1+json"
M.DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
M.DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
M.OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
M.DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
M.OCI_EMPTY = "application/vnd.oci.empty.v1+json"

-- Indexes first: asked for a multi-platform tag, we want the index, not the
-- registry's pick of one platform. */* last keeps odd artifacts readable.
M.ACCEPT = table.concat({
  M.OCI_INDEX, M.DOCKER_LIST, M.OCI_MANIFEST, M.DOCKER_MANIFEST, "*/*",
}, ", ")

-- distribution refuses manifests over 4 MiB; anything bigger is not a manifest
M.MAX_SIZE = 4 * 1024 * 1024

local index_types = {[M.OCI_INDEX] = true, [M.DOCKER_LIST] = true}
local image_types = {[M.OCI_MANIFEST] = true, [M.DOCKER_MANIFEST] = true}

function M.is_index(media_type) return index_types[media_type] == true end
function M.is_image(media_type) return image_types[media_type] == true end

-- "application/json; charset=utf-8" -> "application/json"
local function bare_type(content_type)
  if type(content_type) ~= "string" then return nil end
  return content_type:match("^%s*([^;%s]+)")
end

--- The media type of a decoded manifest: its mediaType field, else the
--- response's Content-Type, else guessed from its shape.
function M.media_type_of(m, content_type)
  if type(m.mediaType) == "string" and m.mediaType ~= "" then return m.mediaType end
  local ctype = bare_type(content_type)
  if ctype and ctype ~= "application/json" and ctype ~= "application/octet-stream" then
    return ctype
  end
  if type(m.manifests) == "table" then return M.OCI_INDEX end
  if type(m.config) == "table" then return M.OCI_MANIFEST end
  return ctype
end

--- Check raw against the digest asked for (by_digest) and the one the registry
--- announced (header); returns the digest of raw | nil, "EDIGEST: ...", "EDIGEST".
function M.verify(raw, what, by_digest, header)
  local algorithm = (by_digest or header or "sha256:"):match("^(%w+):") or "sha256"
  if algorithm ~= "sha256" and algorithm ~= "sha512" then algorithm = "sha256" end
  local actual = digest.string(raw, algorithm)
  if by_digest and actual ~= by_digest then
    return nil, string.format("EDIGEST: %s: the registry sent content with digest %s",
      what, actual), "EDIGEST"
  end
  if header and header ~= "" and header:match("^" .. algorithm .. ":") and header ~= actual then
    return nil, string.format(
      "EDIGEST: %s: Docker-Content-Digest says %s but the content has digest %s",
      what, header, actual), "EDIGEST"
  end
  if algorithm ~= "sha256" and not by_digest then actual = digest.string(raw) end
  return actual
end

--- Decode raw manifest bytes into a table with digest, media_type, size and raw
--- added. Returns the table | nil, "EPROTO: ...", "EPROTO".
function M.decode(raw, content_type, what)
  if raw:match("^%s*<") then
    return nil, "EPROTO: " .. what .. ": the registry answered HTML, not a manifest", "EPROTO"
  end
  local m, err = json.decode(raw)
  if type(m) ~= "table" then
    return nil, string.format("EPROTO: %s: the manifest is not a JSON object (%s)", what,
      tostring(err or "got " .. type(m)):gsub("^EJSON: ", "")), "EPROTO"
  end
  if m.schemaVersion == 1 then
    return nil, "ENOTSUP: " .. what .. ": Docker schema 1 manifests are not supported", "ENOTSUP"
  end
  m.media_type = M.media_type_of(m, content_type)
  m.size = #raw
  m.raw = raw
  return m
end

local function is_descriptor(d)
  return type(d) == "table" and type(d.digest) == "string"
end

--- The descriptors of a list a registry sent (an index's manifests, its
--- layers, a referrers answer): the entries that are objects with a string
--- digest, in order. Anything else in it, or a "list" that is not one, is
--- dropped: JSON of any shape must not make a walk or a purge raise.
function M.descriptors(list)
  local out = {}
  if type(list) ~= "table" then return out end
  for _, d in ipairs(list) do
    if is_descriptor(d) then out[#out + 1] = d end
  end
  return out
end

--- The descriptors a manifest points at, as {kind, descriptor} with kind
--- "manifest", "config", "layer" or "subject".
function M.references(m)
  local out = {}
  local function add(kind, d)
    if is_descriptor(d) then out[#out + 1] = {kind = kind, descriptor = d} end
  end
  for _, d in ipairs(M.descriptors(m.manifests)) do add("manifest", d) end
  add("config", m.config)
  for _, d in ipairs(M.descriptors(m.layers)) do add("layer", d) end
  add("subject", m.subject)
  return out
end

--- The platform entry of an index to read an image config from: linux/amd64,
--- else the first entry that is not an attestation ("unknown/unknown").
function M.pick_platform(index, want)
  want = want or {os = "linux", architecture = "amd64"}
  local first
  for _, d in ipairs(M.descriptors(index.manifests)) do
    local p = type(d.platform) == "table" and d.platform or {}
    if p.os ~= "unknown" then
      first = first or d
      if p.os == want.os and p.architecture == want.architecture then return d end
    end
  end
  return first
end

--------------------------------------------------------------------------------
-- The untag throwaway

-- OCI's empty descriptor: the config (and only layer) of the throwaway.
M.EMPTY = "{}"
M.EMPTY_DIGEST =  -- digest.string(M.EMPTY), written out so that loading needs no libcrypto
  "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
M.UNTAG_ANNOTATION = "io.regsh.untag.tag"

-- 128 random bits as hex, so two throwaways of one tag in one second differ.
local function nonce()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(16)
  if f then f:close() end
  if not bytes or #bytes ~= 16 then  -- no /dev/urandom: Lua 5.4 seeds math.random per run
    return string.format("%08x%08x%08x%08x", math.random(0, 0xffffffff),
      math.random(0, 0xffffffff), math.random(0, 0xffffffff), math.random(0, 0xffffffff))
  end
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

--- The raw bytes of a throwaway OCI image manifest for tag (a valid tag, so
--- it needs no JSON escaping), unique per call: pushed to the tag and deleted
--- by its digest, it takes that one tag away and nothing else. now: epoch
--- seconds (default: the clock).
function M.throwaway(tag, now)
  local empty = string.format('{"mediaType":"%s","digest":"%s","size":%d}', M.OCI_EMPTY,
    M.EMPTY_DIGEST, #M.EMPTY)
  return string.format('{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s],'
    .. '"annotations":{"%s":"%s","io.regsh.untag.time":"%s","io.regsh.untag.nonce":"%s"}}',
    M.OCI_MANIFEST, empty, empty, M.UNTAG_ANNOTATION, tag,
    time.format_rfc3339(now or time.now()), nonce())
end

--- Whether decoded manifest m is an untag throwaway (one left behind when a
--- process died between its PUT and its DELETE): the untag annotation and
--- the empty config.
function M.is_throwaway(m)
  if type(m) ~= "table" then return false end
  local annotations, config = m.annotations, m.config
  return type(annotations) == "table" and type(annotations[M.UNTAG_ANNOTATION]) == "string"
    and type(config) == "table" and config.mediaType == M.OCI_EMPTY
    and config.digest == M.EMPTY_DIGEST
end

return M
