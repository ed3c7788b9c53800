-- tests/support/purge.lua: what the purge specs share: images whose config
-- `created` lies a chosen number of seconds in the past (so ages are exact),
-- indexes of untagged children, a record of every digest pushed, the exact
-- state of a registry (tags, HEAD of every digest, manifest revisions in
-- storage) to compare before and after, and `regsh purge` run as a command.
local cjson = require "cjson"
local digest = require "regsh.digest"
local content = require "support.content"
local cmd = require "support.cmd"
local servers = require "support.servers"
local support = require "support.registry"

local M = {}

M.HOUR, M.DAY = 3600, 86400

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end

-- A world: the registry client and every digest pushed, per repository.
local World = {}
World.__index = World

--- world(reg, server) -> World. server: the tests/support/registry handle (its
--- dir lets state() read the manifest revisions in storage).
function M.world(reg, server)
  return setmetatable({reg = reg, server = server, pushed = {}, serial = 0}, World)
end

function World:record(repo, d)
  self.pushed[repo] = self.pushed[repo] or {}
  self.pushed[repo][d] = true
  return d
end

--- An image created `age` seconds ago, put under each of tags (none: by
--- digest). opts.arch. Returns its digest, raw manifest.
function World:image(repo, tags, age, opts)
  opts = opts or {}
  self.serial = self.serial + 1
  local config = cjson.encode({architecture = opts.arch or "amd64", os = "linux",
    created = iso(os.time() - age), config = {Labels = {n = tostring(self.serial)}},
    rootfs = {type = "layers", diff_ids = {}}})
  local layer = string.format("layer %d of %s", self.serial, repo)
  local cd = assert(self.reg:blob_upload(repo, config))
  local ld = assert(self.reg:blob_upload(repo, layer))
  local raw = string.format('{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s",'
    .. '"digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",'
    .. '"digest":"%s","size":%d}]}', content.OCI_MANIFEST, content.OCI_CONFIG, cd, #config, ld,
    #layer)
  local d = digest.string(raw)
  self:put(repo, tags, raw, content.OCI_MANIFEST)
  return self:record(repo, d), raw
end

--- Put raw under each of tags, or by digest when tags is empty.
function World:put(repo, tags, raw, media_type)
  if #tags == 0 then
    assert(self.reg:put_manifest(repo, digest.string(raw), raw, media_type))
  end
  for _, t in ipairs(tags) do assert(self.reg:put_manifest(repo, t, raw, media_type)) end
  return self:record(repo, digest.string(raw))
end

--- A two-platform index (children untagged, created `age` and age + 1h ago)
--- under tags. Returns its descriptor, {child digests}.
function World:index(repo, tags, age)
  local manifests, children = {}, {}
  for i, arch in ipairs({"amd64", "arm64"}) do
    local d, raw = self:image(repo, {}, age + (i - 1) * M.HOUR, {arch = arch})
    children[i] = d
    manifests[i] = {mediaType = content.OCI_MANIFEST, digest = d, size = #raw,
                    platform = {os = "linux", architecture = arch}}
  end
  local raw = cjson.encode({schemaVersion = 2, mediaType = content.OCI_INDEX,
                            manifests = manifests})
  local d = self:put(repo, tags, raw, content.OCI_INDEX)
  return {digest = d, size = #raw, mediaType = content.OCI_INDEX}, children
end

--- An OCI referrer of subject (a descriptor) pushed by digest: on
--- distribution put_manifest also records it in the sha256-<hex> fallback
--- index, whose digest is recorded too. Returns its digest.
function World:referrer(repo, subject, payload)
  local d = assert(content.push_artifact(self.reg, repo, subject, "application/vnd.example.sig",
    payload))
  self:record(repo, d)
  local fallback = subject.digest:gsub(":", "-")
  self:record(repo, assert(self.reg:head(repo, fallback)).digest)
  return d
end

--- A cosign-style signature: an image put to the tag sha256-<hex>.sig of subject.
function World:cosign(repo, subject_digest, age)
  return self:image(repo, {(subject_digest:gsub(":", "-")) .. ".sig"}, age)
end

-- The manifest revisions distribution keeps for repo: what is really there,
-- throwaway manifests included.
local function revisions(server, repo)
  local out = servers.sh("ls " .. support.shell_quote(server.dir
    .. "/data/docker/registry/v2/repositories/" .. repo .. "/_manifests/revisions/sha256")
    .. " 2>/dev/null")
  local set = {}
  for hex in out:gmatch("%x+") do
    -- a deleted manifest leaves its revision directory without its link
    local link = server.dir .. "/data/docker/registry/v2/repositories/" .. repo
      .. "/_manifests/revisions/sha256/" .. hex .. "/link"
    local f = io.open(link)
    if f then f:close(); set["sha256:" .. hex] = true end
  end
  return set
end

--- The exact state of the repositories under prefix: {repo = {tags = {name =
--- digest}, digests = {pushed digest = true | error code}, revisions = {...}}}.
function World:state(prefix)
  local out = {}
  for _, name in ipairs(assert(self.reg:repositories())) do
    if name:sub(1, #prefix) == prefix then
      local tags = {}
      local list, _, code = self.reg:tags(name)
      assert(list or code == "ENOTFOUND", code)
      for _, t in ipairs(list or {}) do tags[t.name] = assert(self.reg:head(name, t.name)).digest end
      local digests = {}
      for d in pairs(self.pushed[name] or {}) do
        local head, _, c = self.reg:head(name, d)
        digests[d] = head and true or c
      end
      out[name] = {tags = tags, digests = digests,
                   revisions = self.server and revisions(self.server, name) or nil}
    end
  end
  return out
end

--- Tag names of repo, sorted.
function World:tags(repo)
  local list, _, code = self.reg:tags(repo)
  assert(list or code == "ENOTFOUND", code)
  local names = {}
  for _, t in ipairs(list or {}) do names[#names + 1] = t.name end
  table.sort(names)
  return names
end

--- Assert that in repo exactly the digests in `gone` are gone (HEAD answers
--- ENOTFOUND) and every other pushed digest is there; and that storage holds
--- no manifest revision that was not pushed (a throwaway left behind).
function World:expect_gone(repo, gone)
  local want = {}
  for _, d in ipairs(gone) do want[d] = true end
  for d in pairs(self.pushed[repo] or {}) do
    local head, err, code = self.reg:head(repo, d)
    if want[d] then
      assert(not head and code == "ENOTFOUND", repo .. "@" .. d .. " should be gone")
    else
      assert(head, repo .. "@" .. d .. " should be there: " .. tostring(err))
    end
  end
  if self.server then
    for d in pairs(revisions(self.server, repo)) do
      assert(self.pushed[repo] and self.pushed[repo][d],
        repo .. "@" .. d .. " is a manifest nobody pushed (a throwaway left behind?)")
    end
  end
end

--- Run `regsh purge --registry HOST --state STATE ARGS...`: stdout, status, stderr.
function M.run(host, state, args)
  local all = {"purge", "--registry", host, "--state", state}
  for _, a in ipairs(args) do all[#all + 1] = a end
  return cmd.regsh(all)
end

--- Lines of text, as an array.
function M.lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

--- A plan's JSON data with the outcome fields dropped (done, failed, skipped,
--- deleted, dry_run, now): what a dry run and the real run must agree on.
function M.plan_shape(data)
  data = cjson.decode(cjson.encode(data))
  data.deleted, data.dry_run, data.now = nil, nil, nil
  for _, r in ipairs(data.repositories) do
    for _, a in ipairs(r.actions) do a.done, a.failed, a.skipped = nil, nil, nil end
  end
  return data
end

return M
