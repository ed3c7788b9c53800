-- regsh.registry: the OCI Distribution client scripts use. open() makes a
-- client for one registry host; its methods check their arguments (misuse
-- raises, bad names fail with EREF) and dispatch to the internal layer
-- (layer.lua), which does the wire work with blob, referrers, acr, listing
-- and transport; copy.lua and graph.lua work on layers too.
-- Contract: docs/reference/registry.md.
local json = require "regsh.json"
local lazy = require "regsh.lazy"
local layer = require "regsh.registry.layer"
local manifest = require "regsh.registry.manifest"
local names = require "regsh.registry.names"
local redact = require "regsh.registry.redact"
local ref = require "regsh.registry.ref"
-- what a one-line command may never need loads on first use
local acr = lazy "regsh.registry.acr"
local copy = lazy "regsh.registry.copy"
local credentials = lazy "regsh.registry.credentials"
local graph = lazy "regsh.registry.graph"
local listing = lazy "regsh.registry.listing"

local M = {}

M.media_types = {
  oci_manifest = manifest.OCI_MANIFEST, oci_index = manifest.OCI_INDEX,
  docker_manifest = manifest.DOCKER_MANIFEST, docker_list = manifest.DOCKER_LIST,
  oci_config = manifest.OCI_CONFIG, docker_config = manifest.DOCKER_CONFIG,
}

--- parse_reference(s) -> {registry, repository, tag, digest, string} | nil, "EREF: ...", "EREF"
M.parse_reference = ref.parse

--- is_throwaway(m) -> bool: whether a decoded manifest (client:manifest's) is
--- the throwaway untag puts to a tag on registries that delete by digest only,
--- left there by a run that died before deleting it.
M.is_throwaway = manifest.is_throwaway

-- open()'s options and the Lua type each must have.
local option_types = {
  username = "string", password = "string", insecure = "boolean", ca_file = "string",
  ca_dir = "string",
  timeout = "number", connect_timeout = "number", deadline = "number", concurrency = "number",
  dry_run = "boolean", user_agent = "string",
  page_size = "number", max_pages = "number", max_entries = "number", retries = "number",
  backoff = "number", acr = "boolean",
  log = "function", docker_config = "string", auth_file = "string", env_credentials = "boolean",
}

local function check_options(opts, fname)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(string.format("bad argument #2 to '%s' (table expected, got %s)", fname, type(opts)), 3)
  end
  for key, value in pairs(opts) do
    local want = option_types[key]
    if not want then error(string.format("%s: unknown option '%s'", fname, tostring(key)), 3) end
    local got = type(value)
    if key == "password" and redact.is_secret(value) then got = "string" end
    if got ~= want then
      error(string.format("%s: option '%s' must be a %s, got %s", fname, key, want, got), 3)
    end
  end
  if opts.password ~= nil and opts.username == nil then
    error(fname .. ": option 'password' needs 'username' too", 3)
  end
  for _, key in ipairs({"concurrency", "page_size", "max_pages", "max_entries"}) do
    local v = opts[key]
    if v ~= nil and (math.type(v) ~= "integer" or v < 1) then
      error(string.format("%s: option '%s' must be an integer >= 1", fname, key), 3)
    end
  end
  for key, least in pairs({timeout = 0, connect_timeout = 0, deadline = 0.001}) do
    local v = opts[key]
    if v ~= nil and not (v >= least and v <= 1e7) then
      error(string.format("%s: option '%s' must be a number of seconds %s", fname, key,
        least == 0 and ">= 0" or "> 0"), 3)
    end
  end
  if opts.retries ~= nil and (math.type(opts.retries) ~= "integer" or opts.retries < 0) then
    error(fname .. ": option 'retries' must be an integer >= 0", 3)
  end
  return opts
end

-- Warnings and "would ..." lines go to regsh.log (stderr, level info; debug
-- with REGSH_LOG=debug) unless the script passes log.
local function default_log(level, message)
  require("regsh.log").log(level, message)
end

local Client = {}
Client.__index = Client
-- client -> its layer, kept out of the client so scripts see only the contract
local layers = setmetatable({}, {__mode = "k"})
Client.__name = "regsh.registry"

function Client:__tostring()
  return string.format("regsh.registry (%s%s)", self.host, self.dry_run and ", dry run" or "")
end

--- open(host, opts) -> client | nil, "EREF: ...", "EREF". No I/O happens
--- until the first call.
function M.open(host, opts)
  if type(host) ~= "string" then
    error("bad argument #1 to 'open' (registry host expected, got " .. type(host) .. ")", 2)
  end
  opts = check_options(opts, "open")
  local parsed, err, code = ref.parse_host(host)
  if not parsed then return nil, err, code end
  local plain_allowed = opts.insecure == true or ref.is_loopback(parsed.host)
  if parsed.scheme == "http" and not plain_allowed then
    return nil, string.format("EREF: %s: plain HTTP to a host that is not loopback needs "
      .. "insecure = true (--insecure)", host), "EREF"
  end
  local wire = layer.new({host = parsed, opts = opts, plain_allowed = plain_allowed,
                         log = opts.log or default_log})
  -- the documented read-only fields; transport is there for the specs, which
  -- stand in for the network (transport.http) and the clock
  local self = setmetatable({
    host = wire.host, dry_run = wire.dry_run, page_size = wire.page_size,
    max_pages = wire.max_pages, max_entries = wire.max_entries,
    concurrency = wire.concurrency, is_acr = wire.is_acr, transport = wire.transport,
  }, Client)
  layers[self] = wire
  return self
end

--- Whether the registry answers and accepts the credentials: GET /v2/ with
--- auth. true | fail (EAUTH for bad credentials).
function Client:ping()
  local t = layers[self].transport
  local res, err, code = t:request({method = "GET", path = "/v2/", what = self.host, scopes = {}})
  if not res then return nil, err, code end
  if res.status ~= 200 then return t:status_error(res, self.host, "ping") end
  return true
end

local function matching(pattern)
  return pattern and function(name) return name:find(pattern) ~= nil end
end

--- Repository names (all pages), those matching the Lua pattern when given.
function Client:repositories(pattern)
  return listing.collect(layers[self]:catalog_pager(), matching(pattern))
end

--- Iterator over repository names, page by page; raises "CODE: detail" on failure.
function Client:each_repository(pattern)
  return listing.each(layers[self]:catalog_pager(), matching(pattern))
end

--- Tags of a repository: array of {name, digest?, created?, updated?, locked?}.
function Client:tags(repository)
  local ok, err, code = names.check_repository(self.host, repository, "tags")
  if not ok then return nil, err, code end
  return listing.collect(layers[self]:tag_pager(repository))
end

--- Iterator over tag entries, page by page; raises on failure.
function Client:each_tag(repository)
  local ok, err = names.check_repository(self.host, repository, "each_tag")
  if not ok then error(err, 2) end
  return listing.each(layers[self]:tag_pager(repository))
end

-- Check a (repository, tag-or-digest) pair of arguments for method fname;
-- misuse is blamed on the method's caller (level 4, past this helper).
local function check_pair(self, repository, reference, fname)
  local ok, err, code = names.check_repository(self.host, repository, fname, 1, 4)
  if ok then
    ok, err, code = names.check_reference(self.host, repository, reference, fname, 2, 4)
  end
  return ok, err, code
end

-- The same for a (repository, digest) pair.
local function check_digest_pair(self, repository, digest, fname)
  local ok, err, code = names.check_repository(self.host, repository, fname, 1, 4)
  if ok then ok, err, code = names.check_digest(self.host, repository, digest, fname, 2, 4) end
  return ok, err, code
end

--- The manifest of repository:reference, decoded, with digest, media_type,
--- size and raw (the exact bytes) added; verified against its digest.
function Client:manifest(repository, reference)
  local ok, err, code = check_pair(self, repository, reference, "manifest")
  if not ok then return nil, err, code end
  return layers[self]:manifest(repository, reference)
end

--- HEAD a manifest: {digest, media_type, size} | fail (ENOTFOUND when absent).
function Client:head(repository, reference)
  local ok, err, code = check_pair(self, repository, reference, "head")
  if not ok then return nil, err, code end
  return layers[self]:head(repository, reference)
end

--- The image config a manifest points at, decoded. manifest_or_reference: a
--- table from :manifest() or a tag/digest. For an index, opts.platform
--- ("os/architecture", e.g. "linux/arm64") picks the image; without it
--- linux/amd64 is taken, else the index's first image.
function Client:config(repository, manifest_or_reference, opts)
  local platform = opts and opts.platform
  local want
  if platform ~= nil then
    local os_name, arch = tostring(platform):match("^([%w_.-]+)/([%w_.-]+)$")
    if not os_name then
      error("config: option 'platform' must be OS/ARCHITECTURE such as linux/arm64, got '"
        .. tostring(platform) .. "'", 2)
    end
    want = {os = os_name, architecture = arch}
  end
  local m = manifest_or_reference
  local ok, err, code
  if type(m) == "table" then
    ok, err, code = names.check_repository(self.host, repository, "config")
  else
    ok, err, code = check_pair(self, repository, m, "config")
  end
  if not ok then return nil, err, code end
  local wire = layers[self]
  if type(m) ~= "table" then
    m, err, code = wire:manifest(repository, m)
    if not m then return nil, err, code end
  end
  return wire:config(repository, m, want, platform)
end

--- PUT a manifest (raw bytes or a table to encode) under a tag or its digest.
--- Returns its digest. A manifest with a subject, on a registry without the
--- referrers API, is also added to the subject's sha256-<hex> fallback index.
function Client:put_manifest(repository, reference, content, media_type)
  local ok, err, code = check_pair(self, repository, reference, "put_manifest")
  if not ok then return nil, err, code end
  local raw, decoded = content, nil
  if type(content) == "table" then
    raw, decoded = json.encode(content), content
    media_type = media_type or content.mediaType
  elseif type(content) ~= "string" then
    error("bad argument #3 to 'put_manifest' (string or table expected, got "
      .. type(content) .. ")", 2)
  end
  if media_type == nil then
    decoded = json.decode(raw)
    media_type = type(decoded) == "table" and manifest.media_type_of(decoded) or nil
  end
  if type(media_type) ~= "string" then
    return nil, "EPROTO: " .. names.display(self.host, repository, reference)
      .. ": the manifest's media type is unknown (pass media_type)", "EPROTO"
  end
  return layers[self]:put_manifest(repository, reference, raw, media_type, decoded)
end

--- DELETE a manifest by digest (every tag on it goes too): true, deleted
--- (false when the registry says the manifest is already gone) | fail. Any
--- other 404 (an unknown repository, a proxy's page) is a failure.
--- opts.subject (the subject's digest, or true to look it up first) also
--- takes a deleted referrer out of the subject's sha256-<hex> fallback index
--- on registries without the referrers API. A dry run reads what the real
--- run would meet and answers as it would, EDRYRUN where it would write.
function Client:delete(repository, digest, opts)
  local ok, err, code = check_digest_pair(self, repository, digest, "delete")
  if not ok then return nil, err, code end
  local subject = opts and opts.subject
  if subject ~= nil and subject ~= true and not ref.is_digest(subject) then
    error("delete: option 'subject' must be a digest or true, got " .. tostring(subject), 2)
  end
  return layers[self]:delete(repository, digest, subject)
end

--- Remove one tag, leaving the manifest: true, removed | fail. Where the
--- registry deletes by digest only (distribution 2.8), by a throwaway manifest
--- put to the tag and deleted by digest; ENOTSUP where it refuses deletes.
function Client:untag(repository, tag)
  local ok, err, code = names.check_repository(self.host, repository, "untag")
  if ok and (type(tag) ~= "string") then
    error("bad argument #2 to 'untag' (tag expected, got " .. type(tag) .. ")", 2)
  end
  if ok and not ref.is_tag(tag) then
    ok, code = nil, "EREF"
    err = string.format("EREF: %s: not a valid tag", names.display(self.host, repository, tag))
  end
  if not ok then return nil, err, code end
  return layers[self]:untag(repository, tag)
end

--- The tags of repository on manifest digest (those a delete of it removes),
--- sorted.
function Client:tags_of(repository, digest)
  local ok, err, code = check_digest_pair(self, repository, digest, "tags_of")
  if not ok then return nil, err, code end
  return layers[self]:tags_of(repository, digest)
end

--- HEAD a blob: {digest, size} | fail.
function Client:blob_head(repository, digest)
  local ok, err, code = check_digest_pair(self, repository, digest, "blob_head")
  if not ok then return nil, err, code end
  return layers[self]:blob_head(repository, digest)
end

--- GET a blob (verified): the bytes, or true with opts.output = path.
function Client:blob_get(repository, digest, opts)
  local ok, err, code = check_digest_pair(self, repository, digest, "blob_get")
  if not ok then return nil, err, code end
  return layers[self]:blob_get(repository, digest, opts)
end

--- Upload a blob (string or {path=}); returns its digest. opts.chunk_size: chunked.
function Client:blob_upload(repository, data, opts)
  local ok, err, code = names.check_repository(self.host, repository, "blob_upload")
  if not ok then return nil, err, code end
  if type(data) ~= "string" and not (type(data) == "table" and type(data.path) == "string") then
    error("bad argument #2 to 'blob_upload' (string or {path=} expected)", 2)
  end
  if opts ~= nil and opts.chunk_size ~= nil
     and (math.type(opts.chunk_size) ~= "integer" or opts.chunk_size < 1) then
    error("bad argument #3 to 'blob_upload' (chunk_size must be an integer >= 1)", 2)
  end
  return layers[self]:blob_upload(repository, data, opts)
end

--- Mount a blob from another repository of this registry: true, or false when
--- the registry would not mount it.
function Client:blob_mount(repository, digest, from_repository)
  local ok, err, code = check_digest_pair(self, repository, digest, "blob_mount")
  if ok then ok, err, code = names.check_repository(self.host, from_repository, "blob_mount", 3) end
  if not ok then return nil, err, code end
  return layers[self]:blob_mount(repository, digest, from_repository)
end

--- Copy an image within this registry, or to opts.to (another client).
function Client:copy(src, dst, opts)
  if type(src) ~= "string" or type(dst) ~= "string" then
    error("bad arguments to 'copy' (two repository references expected)", 2)
  end
  local to = opts and opts.to or self
  if getmetatable(to) ~= Client then error("copy: option 'to' must be a registry client", 2) end
  return copy.copy(layers[self], src, layers[to], dst)
end

--- Descriptors of the artifacts referring to repository@digest.
function Client:referrers(repository, digest, artifact_type)
  local ok, err, code = check_digest_pair(self, repository, digest, "referrers")
  if not ok then return nil, err, code end
  return layers[self]:referrers(repository, digest, artifact_type)
end

--- Walk the manifest graph from repository:reference (index children, then
--- referrers, each manifest once): visit(manifest, edge) as in
--- regsh.registry.graph.walk. true | fail.
function Client:walk(repository, reference, visit, opts)
  local ok, err, code = check_pair(self, repository, reference, "walk")
  if not ok then return nil, err, code end
  if type(visit) ~= "function" then
    error("bad argument #3 to 'walk' (function expected, got " .. type(visit) .. ")", 2)
  end
  if opts ~= nil then
    for key, value in pairs(opts) do
      if key ~= "referrers" then error("walk: unknown option '" .. tostring(key) .. "'", 2) end
      if type(value) ~= "boolean" then error("walk: option 'referrers' must be a boolean", 2) end
    end
  end
  return graph.walk(layers[self], repository, reference, visit, opts)
end

local function require_acr(self, fname)
  if not self.is_acr then
    return nil, string.format("ENOTSUP: %s: %s is not an Azure Container Registry "
      .. "(open it with acr = true if it is)", fname, self.host), "ENOTSUP"
  end
  return true
end

--- ACR: tags with createdTime/lastUpdateTime and lock attributes (all pages).
function Client:acr_tags(repository, opts)
  local ok, err, code = require_acr(self, "acr_tags")
  if ok then ok, err, code = names.check_repository(self.host, repository, "acr_tags") end
  if not ok then return nil, err, code end
  return listing.collect(layers[self]:acr_tag_pager(repository, opts))
end

--- ACR: manifests with their attributes and tags (all pages).
function Client:acr_manifests(repository, opts)
  local ok, err, code = require_acr(self, "acr_manifests")
  if ok then ok, err, code = names.check_repository(self.host, repository, "acr_manifests") end
  if not ok then return nil, err, code end
  return listing.collect(layers[self]:acr_manifest_pager(repository, opts))
end

--- ACR: change the lock attributes of a tag or a digest.
function Client:lock(repository, tag_or_digest, attributes)
  local ok, err, code = require_acr(self, "lock")
  if ok then ok, err, code = check_pair(self, repository, tag_or_digest, "lock") end
  if not ok then return nil, err, code end
  acr.check_attributes(attributes, 3)
  return layers[self]:lock(repository, tag_or_digest, attributes)
end

-- open() options for one side of a copy: the shared ones, then that side's own.
local function side_options(opts, side)
  local out = {}
  for k, v in pairs(opts or {}) do
    if k ~= "source" and k ~= "destination" then out[k] = v end
  end
  local own = opts and opts[side]
  if own ~= nil and type(own) ~= "table" then
    error("copy: option '" .. side .. "' must be a table of open() options", 3)
  end
  for k, v in pairs(own or {}) do out[k] = v end
  return out
end

--- copy("host/a:1", "other/b:1", opts): opens the registries (one client when
--- they are the same host) and copies. Returns the digest. opts are open()'s,
--- for both; opts.source and opts.destination add options for one side only.
--- Credentials go only to the host they were given for: between two
--- registries, username/password must be given per side (else it raises),
--- and REGSH_USERNAME/REGSH_PASSWORD go to the destination only (unless
--- REGSH_REGISTRY names the source).
function M.copy(src_string, dst_string, opts)
  local s, err, code = ref.parse(src_string)
  if not s then return nil, err, code end
  local d
  d, err, code = ref.parse(dst_string, {default_tag = false})
  if not d then return nil, err, code end
  local two_hosts = d.registry ~= s.registry
  if two_hosts and opts and (opts.username ~= nil or opts.password ~= nil) then
    error(string.format("copy: options 'username'/'password' would go to two registries (%s and "
      .. "%s): give them in opts.source or opts.destination", s.registry, d.registry), 2)
  end
  local src_opts, dst_opts = side_options(opts, "source"), side_options(opts, "destination")
  if two_hosts and src_opts.env_credentials == nil then src_opts.env_credentials = false end
  local src
  src, err, code = M.open(s.registry, src_opts)
  if not src then return nil, err, code end
  local dst = src
  local same_options = opts == nil or (opts.source == nil and opts.destination == nil)
  if two_hosts or not same_options then
    dst, err, code = M.open(d.registry, dst_opts)
    if not dst then return nil, err, code end
  end
  -- no tag written on the destination: it keeps the source's
  return src:copy(s:local_string(), d:local_string(), {to = dst})
end

--- login(host, username, password, opts): check the credentials against the
--- registry, then store them like `docker login`. Returns true, where | fail.
function M.login(host, username, password, opts)
  local password_ok = type(password) == "string" or redact.is_secret(password)
  if type(username) ~= "string" or not password_ok then
    error("bad arguments to 'login' (host, username and password expected)", 2)
  end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.username, o.password = username, password
  local reg, err, code = M.open(host, o)
  if not reg then return nil, err, code end
  local ok
  ok, err, code = reg:ping()
  if not ok then return nil, err, code end
  return credentials.store(reg.host, username, password, {docker_config = o.docker_config})
end

--- logout(host, opts): remove stored credentials. Returns true, removed | fail.
function M.logout(host, opts)
  local parsed, err, code = ref.parse_host(host)
  if not parsed then return nil, err, code end
  return credentials.remove(parsed.host, {docker_config = opts and opts.docker_config})
end

return M
