-- regsh.registry.layer: the internal layer under the client (init.lua, which
-- validates arguments and dispatches here). It holds the transport, page size
-- and concurrency, and the primitives: the one manifest fetch, head, put,
-- delete, untag, tag and catalog pages, blobs (blob.lua), referrers and their
-- fallback bookkeeping (referrers.lua). Its functions trust their arguments
-- and call each other freely; every write passes the one dry-run gate.
local async = require "regsh.async"
local auth = require "regsh.registry.auth"
local json = require "regsh.json"
local lazy = require "regsh.lazy"
local manifest = require "regsh.registry.manifest"
local names = require "regsh.registry.names"
local ref = require "regsh.registry.ref"
local retry = require "regsh.registry.retry"
local transport = require "regsh.registry.transport"
-- loaded on first use: `regsh digest` needs none of them
local acr = lazy "regsh.registry.acr"
local blob = lazy "regsh.registry.blob"
local credentials = lazy "regsh.registry.credentials"
local digest = lazy "regsh.digest"
local listing = lazy "regsh.registry.listing"
local referrers = lazy "regsh.registry.referrers"

local M = {}

local Layer = {}
Layer.__index = Layer
Layer.__name = "regsh.registry.layer"

--- new{host = parsed host (ref.parse_host), plain_allowed, log, opts = open()'s
--- checked options} -> layer. No I/O.
function M.new(cfg)
  local parsed, opts = cfg.host, cfg.opts
  local self = setmetatable({
    host = parsed.host,
    dry_run = opts.dry_run == true,
    deletes_by_digest_only = false,  -- learnt from the registry's answer to an untag
    page_size = opts.page_size,
    max_pages = opts.max_pages or 10000,
    max_entries = opts.max_entries or 1000000,
    concurrency = opts.concurrency or 8,
  }, Layer)
  if opts.acr ~= nil then self.is_acr = opts.acr else self.is_acr = ref.is_acr_host(parsed.host) end
  local cred_opts = {username = opts.username, password = opts.password,
                     docker_config = opts.docker_config, auth_file = opts.auth_file,
                     environment = opts.env_credentials}
  local t
  local authenticator = auth.new({
    host = parsed.host, plain_allowed = cfg.plain_allowed,
    resolve = function() return credentials.resolve(parsed.host, cred_opts) end,
    send = function(req) return t:send(req, parsed.host .. " token") end,
    log = function(level, message) t:log(level, message) end,
  })
  t = transport.new({
    host = parsed.host, api_host = parsed.api_host, scheme = parsed.scheme,
    plain_allowed = cfg.plain_allowed,
    insecure = opts.insecure, ca_file = opts.ca_file, ca_dir = opts.ca_dir,
    -- `timeout` is the stall timeout: no byte for that long fails a request
    connect_timeout = opts.connect_timeout or 10, stall_timeout = opts.timeout or 30,
    deadline = opts.deadline,
    user_agent = opts.user_agent,
    policy = retry.new({retries = opts.retries, backoff = opts.backoff}),
    limiter = async.semaphore(self.concurrency), auth = authenticator, log_fn = cfg.log,
  })
  self.transport = t
  self.cfg = cfg
  return self
end

--- A new layer for the same registry with the same options (its own
--- connections, request slots and tokens).
function Layer:sibling()
  return M.new(self.cfg)
end

--------------------------------------------------------------------------------
-- The dry-run gate

--- The one place a write is let through or refused: true, or in dry-run mode
--- a logged "would <description>" and nil, "EDRYRUN: would ...", "EDRYRUN".
--- Every write request (Layer:write) and every compound write (copy) asks it.
function Layer:gate(description)
  if not self.dry_run then return true end
  self.transport:log("info", "would " .. description)
  return nil, "EDRYRUN: would " .. description, "EDRYRUN"
end

--- A write request: spec as for transport:request, with spec.write describing
--- the write ("delete host/app@sha256:..."). Passes the gate first.
function Layer:write(spec)
  local ok, err, code = self:gate(spec.write)
  if not ok then return nil, err, code end
  return self.transport:request(spec)
end

--------------------------------------------------------------------------------
-- Manifests

local function manifest_path(repository, reference)
  return "/v2/" .. repository .. "/manifests/" .. reference
end

-- GET a manifest: the response | fail.
local function get_manifest(self, repository, reference, what)
  return self.transport:request({method = "GET", what = what,
    path = manifest_path(repository, reference),
    headers = {Accept = manifest.ACCEPT}, max_body = manifest.MAX_SIZE,
    scopes = {names.scope(repository, "pull")}})
end

-- A 200 answer to get_manifest, verified against its digest and decoded.
local function decode_manifest(res, what, reference)
  local d, err, code = manifest.verify(res.body, what,
    ref.is_digest(reference) and reference or nil, res.headers["docker-content-digest"])
  if not d then return nil, err, code end
  local m
  m, err, code = manifest.decode(res.body, res.headers["content-type"], what)
  if not m then return nil, err, code end
  m.digest = d
  return m
end

--- THE manifest fetch: every manifest regsh reads (the client's, head's
--- fallback, config, copy, graph walks, referrer bookkeeping) comes through
--- here, so this is where the purge engine's digest store / cache sits.
--- Returns the manifest decoded, with digest, media_type, size and raw (the
--- exact bytes) added, verified against its digest | fail.
function Layer:manifest(repository, reference)
  local what = names.display(self.host, repository, reference)
  local res, err, code = get_manifest(self, repository, reference, what)
  if not res then return nil, err, code end
  if res.status ~= 200 then return self.transport:status_error(res, what, "manifest") end
  return decode_manifest(res, what, reference)
end

--- HEAD a manifest: {digest, media_type, size} | fail (ENOTFOUND when absent).
function Layer:head(repository, reference)
  local what = names.display(self.host, repository, reference)
  local res, err, code = self.transport:request({method = "HEAD", what = what,
    path = manifest_path(repository, reference),
    headers = {Accept = manifest.ACCEPT}, scopes = {names.scope(repository, "pull")}})
  if not res then return nil, err, code end
  if res.status ~= 200 then return self.transport:status_error(res, what, "manifest") end
  local d = res.headers["docker-content-digest"]
  if not ref.is_digest(d) then
    -- some registries leave the digest off HEAD answers: GET tells it
    local m
    m, err, code = self:manifest(repository, reference)
    if not m then return nil, err, code end
    return {digest = m.digest, media_type = m.media_type, size = m.size}
  end
  if ref.is_digest(reference) and d ~= reference then
    return self.transport:fail("EDIGEST",
      string.format("%s: Docker-Content-Digest says %s", what, d))
  end
  local ctype = res.headers["content-type"]
  return {digest = d, media_type = ctype and ctype:match("^%s*([^;%s]+)"),
          size = tonumber(res.headers["content-length"])}
end

--- PUT raw manifest bytes of media_type under a tag or its digest; decoded is
--- raw decoded (or nil to decode here). Returns the digest. A manifest with a
--- subject, on a registry without the referrers API, is also recorded in the
--- subject's sha256-<hex> fallback index.
function Layer:put_manifest(repository, reference, raw, media_type, decoded)
  local what = names.display(self.host, repository, reference)
  local d = digest.string(raw)
  if ref.is_digest(reference) and reference ~= d then
    return nil, string.format("EDIGEST: %s: the manifest has digest %s", what, d), "EDIGEST"
  end
  local res, err, code = self:write({method = "PUT", what = what,
    path = manifest_path(repository, reference), body = raw,
    headers = {["Content-Type"] = media_type}, scopes = {names.scope(repository, "pull,push")},
    write = string.format("put manifest %s (%s)", what, d)})
  if not res then return nil, err, code end
  if res.status ~= 201 and res.status ~= 200 and res.status ~= 202 then
    return self.transport:status_error(res, what, "put manifest")
  end
  local stored = res.headers["docker-content-digest"]
  if stored and ref.is_digest(stored) and stored:match("^sha256:") and stored ~= d then
    return nil, string.format("EDIGEST: %s: the registry stored the manifest as %s, not %s", what,
      stored, d), "EDIGEST"
  end
  if decoded == nil then decoded = json.decode(raw) end
  local subject = type(decoded) == "table" and decoded.subject
  if type(subject) == "table" and ref.is_digest(subject.digest)
     and not res.headers["oci-subject"] then
    local ok
    ok, err, code = referrers.record_in_fallback(self, repository, decoded, raw, media_type, d)
    if not ok then return nil, err, code end
  end
  return d
end

-- The error codes of a registry's JSON answer ({CODE = true}), or nil when
-- the body is not the registry's own (an HTML page, a proxy's text).
local function answer_codes(res)
  local body = res.body or ""
  local ctype = (res.headers["content-type"] or ""):lower()
  if ctype:find("html", 1, true) or body:match("^%s*<") then return nil end
  local answer = json.decode(body)
  if type(answer) ~= "table" or type(answer.errors) ~= "table" then return nil end
  local codes = {}
  for _, e in ipairs(answer.errors) do
    if type(e) == "table" and type(e.code) == "string" then codes[e.code] = true end
  end
  return codes
end

--- Whether repository exists: true | ENOTFOUND naming it. distribution
--- answers MANIFEST_UNKNOWN for a digest in any repository, even one that was
--- never there, so "already gone" is only believed of a repository that is.
function Layer:repository_exists(repository)
  local what = names.display(self.host, repository)
  local res, err, code = self.transport:request({method = "GET", what = what,
    path = listing.first_path("/v2/" .. repository .. "/tags/list", 1),
    scopes = {names.scope(repository, "pull")}, max_body = 1024 * 1024})
  if not res then return nil, err, code end
  if res.status == 200 then return true end
  if res.status == 404 and answer_codes(res) then
    return self.transport:fail("ENOTFOUND", string.format("%s: the repository is unknown to %s",
      what, self.host))
  end
  return self.transport:status_error(res, what, "repository")
end

--- What a 404 about a manifest means: true, false (already gone: the
--- registry's own MANIFEST_UNKNOWN, in a repository that exists) | a fail:
--- ENOTFOUND for an unknown repository (NAME_UNKNOWN) or any other 404 of the
--- registry, EPROTO for an answer that is not the registry's (a proxy's page).
function Layer:gone(repository, res, what, action)
  local codes = answer_codes(res)
  if codes == nil and (res.body or "") ~= "" then
    return self.transport:fail("EPROTO", string.format("%s %s: HTTP 404 that is not the "
      .. "registry's answer (%s): nothing is known to be gone", action, what,
      self.transport:registry_error(res)))
  end
  if codes and codes.MANIFEST_UNKNOWN then
    local ok, err, code = self:repository_exists(repository)
    if not ok then return nil, err, code end
    return true, false
  end
  if codes and codes.NAME_UNKNOWN then
    return self.transport:fail("ENOTFOUND", string.format("%s %s: the repository is unknown (%s)",
      action, what, self.transport:registry_error(res)))
  end
  return self.transport:status_error(res, what, action)
end

-- The read a dry run of a DELETE of repository:reference does in place of
-- the write (and an untag by throwaway before its writes): true, the 200
-- response when it is there; true, false when it is already gone (as
-- Layer:gone judges); else the failure the real run would have.
function Layer:rehearse(repository, reference, action)
  local what = names.display(self.host, repository, reference)
  local res, err, code = get_manifest(self, repository, reference, what)
  if not res then return nil, err, code end
  if res.status == 404 then return self:gone(repository, res, what, action) end
  if res.status ~= 200 then return self.transport:status_error(res, what, action) end
  return true, res
end

--- DELETE a manifest by digest: true, deleted (false: it was already gone,
--- as the registry itself says) | fail. subject (a digest, or true to read
--- the manifest first and take its subject) also takes it out of the
--- subject's fallback index. In dry-run mode the reads still happen, and
--- the answer is the real run's (EDRYRUN "would delete" where it would).
function Layer:delete(repository, target, subject)
  local what = names.display(self.host, repository, target)
  local err, code
  if subject == true then  -- find out whether it is a referrer, before it is gone
    local m
    m, err, code = self:manifest(repository, target)
    if not m and code ~= "ENOTFOUND" then return nil, err, code end
    subject = m and type(m.subject) == "table" and ref.is_digest(m.subject.digest)
      and m.subject.digest
  end
  if self.dry_run then
    local ok, present
    ok, present, code = self:rehearse(repository, target, "delete")
    if not (ok and present) then return ok, present, code end
    return self:gate("delete " .. what)
  end
  if not subject then return self:delete_request(repository, target, what) end
  -- a referrer: no other task of this process updates its subject's index
  -- between the DELETE and taking it out (which would list a deleted manifest)
  return referrers.serialised(self, repository, subject, function()
    local ok, deleted
    ok, deleted, code = self:delete_request(repository, target, what)
    if not ok then return nil, deleted, code end
    ok, err, code = referrers.forget_in_fallback(self, repository, subject, target)
    if not ok then return nil, err, code end
    return true, deleted
  end)
end

-- The DELETE of a manifest: true, deleted (false: already gone) | fail.
function Layer:delete_request(repository, target, what)
  local res, err, code = self:write({method = "DELETE", what = what,
    path = manifest_path(repository, target),
    scopes = {names.scope(repository, "pull,delete")}, write = "delete " .. what})
  if not res then return nil, err, code end
  if res.status == 404 then
    local ok
    ok, err, code = self:gone(repository, res, what, "delete")
    if not ok then return nil, err, code end
    return true, false
  end
  if res.status ~= 202 and res.status ~= 200 and res.status ~= 204 then
    return self.transport:status_error(res, what, "delete")
  end
  return true, true
end

-- The ENOTSUP of a registry that refuses the DELETE of a tag outright.
local function untag_unsupported(self, what, res)
  local answer = self.transport:registry_error(res)
  return self.transport:fail("ENOTSUP", string.format("untag %s: %s refuses to delete "
    .. "(HTTP %d%s): deletes are disabled or not allowed there", what, self.host, res.status,
    answer ~= "" and (", " .. answer) or ""))
end

-- Whether a refused tag DELETE says the registry deletes by digest only:
-- distribution 2.8 answers 400 DIGEST_INVALID (the tag is no digest); others
-- 400 UNSUPPORTED. A 405 is not this: it is what deletes disabled answer.
local function says_digest_only(res)
  if res.status ~= 400 then return false end
  local codes = answer_codes(res)
  return codes ~= nil and (codes.DIGEST_INVALID or codes.UNSUPPORTED) == true
end

-- The read an untag makes before it writes (but for its first DELETE
-- attempt), then the gate: true, the tag's 200 response | true, false (the
-- tag is already gone) | fail, EDRYRUN "would untag ..." in a dry run.
function Layer:untag_check(repository, tag, what)
  local ok, res, code = self:rehearse(repository, tag, "untag")
  if not (ok and res) then return ok, res, code end
  local err
  ok, err, code = self:gate("untag " .. what)
  if not ok then return nil, err, code end
  return true, res
end

--- Remove one tag, leaving the manifest: true, removed (false: the tag was
--- already gone) | fail. ACR: its tag API. Elsewhere the tag DELETE first;
--- where the registry deletes by digest only (remembered for this layer),
--- the way regctl does it: a throwaway manifest unique to this call is put
--- to the tag and deleted by its digest, which removes that one tag. A tag
--- already on a throwaway (a run that died between the two) just loses it.
--- A refusal of deletes (405) is ENOTSUP before anything is pushed. A dry
--- run reads the tag and answers as the real run would (EDRYRUN "would
--- untag" or already gone), without the DELETE attempt only a write can make.
function Layer:untag(repository, tag)
  local what = names.display(self.host, repository, tag)
  if self.is_acr then
    if self.dry_run then
      local ok, present, code = self:untag_check(repository, tag, what)
      if not (ok and present) then return ok, present, code end
    end
    return acr.untag(self, repository, tag)
  end
  if not (self.dry_run or self.deletes_by_digest_only) then
    local res, err, code = self:write({method = "DELETE", what = what,
      path = manifest_path(repository, tag),
      scopes = {names.scope(repository, "pull,delete")}, write = "untag " .. what})
    if not res then return nil, err, code end
    if res.status == 202 or res.status == 200 or res.status == 204 then return true, true end
    if res.status == 404 then return self:gone(repository, res, what, "untag") end
    if not says_digest_only(res) then
      if res.status == 405 or res.status == 501 or res.status == 400 then
        return untag_unsupported(self, what, res)
      end
      return self.transport:status_error(res, what, "untag")
    end
    self.deletes_by_digest_only = true
  end
  return self:untag_by_throwaway(repository, tag, what)
end

-- One lock per repository, made on first use.
local function repository_lock(self, field, repository)
  self[field] = self[field] or {}
  local slot = self[field][repository]
  if not slot then
    slot = {lock = async.semaphore(1)}
    self[field][repository] = slot
  end
  return slot
end

-- The empty blob a throwaway names, uploaded once per repository: concurrent
-- uploads of one blob race on distribution 2.8 (a manifest put meanwhile can
-- be refused, MANIFEST_BLOB_UNKNOWN), so the untags of a purge take turns.
function Layer:empty_blob(repository)
  local slot = repository_lock(self, "empty_blobs", repository)
  return slot.lock:run(function()
    if slot.done then return true end
    local ok, err, code = self:blob_upload(repository, manifest.EMPTY)
    slot.done = ok and true or nil
    return ok, err, code
  end)
end

-- The untag of a registry that deletes by digest only, one tag of a
-- repository at a time: distribution 2.8 finds the tags to drop with a
-- digest by walking the tag links, and a link another untag writes meanwhile
-- can make it miss one (the tag is left on the deleted throwaway; seen with
-- five concurrent untags of one repository).
function Layer:untag_by_throwaway(repository, tag, what)
  local results = table.pack(repository_lock(self, "untag_locks", repository).lock:run(
    self.untag_by_throwaway_now, self, repository, tag, what))
  return table.unpack(results, 1, results.n)
end

-- The untag itself: read the tag (gone already, or a throwaway left behind),
-- put a throwaway to it, delete that.
function Layer:untag_by_throwaway_now(repository, tag, what)
  local ok, res, code = self:untag_check(repository, tag, what)
  if not (ok and res) then return ok, res, code end
  -- a manifest regsh cannot decode (schema 1, say) is no throwaway of ours
  local current = decode_manifest(res, what)
  local target = current and current.digest
  if not manifest.is_throwaway(current) then
    local err
    ok, err, code = self:empty_blob(repository)
    if not ok then return nil, err, code end
    target, err, code = self:put_manifest(repository, tag, manifest.throwaway(tag),
      manifest.OCI_MANIFEST)
    if not target then return nil, err, code end
  end
  local deleted
  ok, deleted, code = self:delete_request(repository, target,
    what .. " (throwaway " .. target .. ")")
  if not ok then return nil, deleted, code end
  return true, true
end

--- The tags of repository that point at manifest_digest (deleting the digest
--- removes them all): sorted names | fail. Tag entries that carry no digest
--- (all but ACR's) are resolved with one HEAD each, concurrently.
function Layer:tags_of(repository, manifest_digest)
  local entries, err, code = listing.collect(self:tag_pager(repository))
  if not entries then return nil, err, code end
  local found, failures, jobs = {}, {}, {}
  for _, entry in ipairs(entries) do
    if entry.digest then
      if entry.digest == manifest_digest then found[#found + 1] = entry.name end
    else
      jobs[#jobs + 1] = function()
        local head, head_err, head_code = self:head(repository, entry.name)
        if head then
          if head.digest == manifest_digest then found[#found + 1] = entry.name end
        elseif head_code ~= "ENOTFOUND" then  -- a tag deleted meanwhile is not on it
          failures[#failures + 1] = {head_err, head_code}
        end
      end
    end
  end
  async.gather(jobs, {concurrency = self.concurrency})
  if #failures > 0 then return nil, failures[1][1], failures[1][2] end
  table.sort(found)
  return found
end

--- The image config of manifest m (an index: the entry for want = {os,
--- architecture}, else linux/amd64, else its first image), decoded.
--- platform is want as the user wrote it, for messages.
function Layer:config(repository, m, want, platform)
  local err, code
  if manifest.is_index(m.media_type) then
    local pick = manifest.pick_platform(m, want)
    local p = pick and pick.platform or {}
    if want and (p.os ~= want.os or p.architecture ~= want.architecture) then pick = nil end
    if not pick then
      return nil, string.format("ENOTFOUND: %s: the index lists no %s image",
        names.display(self.host, repository, m.digest), platform or "runnable"), "ENOTFOUND"
    end
    m, err, code = self:manifest(repository, pick.digest)
    if not m then return nil, err, code end
  end
  local what = names.display(self.host, repository, m.digest)
  if type(m.config) ~= "table" or not ref.is_digest(m.config.digest) then
    return nil, "EPROTO: " .. what .. ": the manifest has no config descriptor", "EPROTO"
  end
  local data
  data, err, code = self:blob_get(repository, m.config.digest)
  if not data then return nil, err, code end
  local config
  config, err = json.decode(data)
  if type(config) ~= "table" then
    return nil, string.format("EPROTO: %s: the image config is not a JSON object (%s)", what,
      tostring(err)), "EPROTO"
  end
  return config
end

--------------------------------------------------------------------------------
-- Lists

-- Names the server lists reach scripts and terminals: only grammatical ones.
local function grammatical(self, pager, noun, what, valid, field)
  return names.grammatical(pager, {valid = valid, noun = noun, what = what, field = field,
    log = function(level, message) self.transport:log(level, message) end})
end

--- listing.pager on this layer's transport, within its listing bounds.
function Layer:pager(spec)
  spec.max_pages, spec.max_entries = self.max_pages, self.max_entries
  return listing.pager(self.transport, spec)
end

--- A pager over the catalog's repository names.
function Layer:catalog_pager()
  local what = self.host .. " catalog"
  return grammatical(self, self:pager({
    path = listing.first_path("/v2/_catalog", self.page_size), key = "repositories",
    what = what, missing = "ENOTSUP", scopes = {names.CATALOG_SCOPE},
  }), "repository", what, ref.is_repository)
end

--- A pager over a repository's tag entries ({name}, or ACR's richer ones).
function Layer:tag_pager(repository)
  if self.is_acr then return self:acr_tag_pager(repository) end
  local what = names.display(self.host, repository)
  local pager = grammatical(self, self:pager({
    path = listing.first_path("/v2/" .. repository .. "/tags/list", self.page_size), key = "tags",
    what = what, missing = "ENOTFOUND", scopes = {names.scope(repository, "pull")},
  }), "tag", what, ref.is_tag)
  return function()
    local page, err, code = pager()
    if not page then return nil, err, code end
    local entries = {}
    for i, name in ipairs(page) do entries[i] = {name = name} end
    return entries
  end
end

--- ACR's tag pager (acr.lua), its names held to the tag grammar too.
function Layer:acr_tag_pager(repository, opts)
  return grammatical(self, acr.tag_pager(self, repository, opts), "tag",
    names.display(self.host, repository), ref.is_tag, "name")
end

--------------------------------------------------------------------------------
-- Blobs, referrers, ACR: their modules take the layer as first argument.

-- through the lazy modules: defined here, loaded when first called
function Layer:blob_head(...) return blob.head(self, ...) end
function Layer:blob_get(...) return blob.get(self, ...) end
function Layer:blob_upload(...) return blob.upload(self, ...) end
function Layer:blob_mount(...) return blob.mount(self, ...) end
function Layer:referrers(...) return referrers.list(self, ...) end
function Layer:acr_manifest_pager(...) return acr.manifest_pager(self, ...) end
function Layer:lock(...) return acr.lock(self, ...) end

return M
