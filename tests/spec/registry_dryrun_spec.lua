-- Dry run against a real docker-registry behind tests/support/fault_proxy.py:
-- every write answers EDRYRUN, and the proxy's request log shows that no
-- write request (POST, PUT, PATCH, DELETE) reached the registry, not even the
-- first step of a multi-request write such as the upload session's POST.
local registry = require "regsh.registry"
local servers = require "support.servers"
local content = require "support.content"

local READS = {GET = true, HEAD = true}

describe("registry dry run", function()
  local reg, fp, md, raw, blobs

  -- requests other than GET and HEAD that reached the proxy
  local function writes()
    local out = {}
    for _, e in ipairs(fp:log()) do
      if not READS[e.method] then out[#out + 1] = e.method .. " " .. e.path end
    end
    return out
  end

  local function dry() return registry.open(fp.host, {dry_run = true, log = function() end}) end

  local function refused(ok, err, code)
    assert.is_nil(ok)
    assert.equal("EDRYRUN", code, err)
    assert.matches("^EDRYRUN: would ", err)
  end

  setup(function()
    reg, fp = servers.proxied_registry{}
    md, raw, blobs = content.push_image(registry.open(reg.host), "dry/app", "v1")
    assert.is_string(md, raw)
  end)

  teardown(function() servers.stop_all(fp, reg) end)

  before_each(function() fp:clear() end)

  it("refuses a blob upload before its POST opens an upload session", function()
    local r = dry()
    refused(r:blob_upload("dry/app", "a blob the registry has not got"))
    assert.same({}, writes())
    -- the HEAD that asks whether the blob is there already is a read, and went through
    assert.equal(1, #fp:log("^/v2/dry/app/blobs/sha256:"))
  end)

  it("refuses a chunked blob upload before any request that writes", function()
    refused(dry():blob_upload("dry/app", string.rep("chunk ", 100), {chunk_size = 64}))
    assert.same({}, writes())
  end)

  it("refuses a blob upload from a file before any request that writes", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write("a file the registry has not got")
    f:close()
    local ok, err, code = dry():blob_upload("dry/app", {path = path})
    os.remove(path)
    refused(ok, err, code)
    assert.same({}, writes())
  end)

  it("refuses a cross-repository mount without a POST", function()
    refused(dry():blob_mount("dry/other", blobs.layer, "dry/app"))
    assert.same({}, writes())
  end)

  it("refuses put_manifest, delete and untag without a write request", function()
    local r = dry()
    refused(r:put_manifest("dry/app", "v2", raw, content.OCI_MANIFEST))
    refused(r:delete("dry/app", md))
    -- nor the throwaway manifest an untag of distribution puts to the tag
    refused(r:untag("dry/app", "v1"))
    assert.same({}, writes())
    -- and the registry still has what it had
    local real = registry.open(reg.host)
    assert.equal(md, assert(real:head("dry/app", "v1")).digest)
    local gone, _, code = real:head("dry/app", "v2")
    assert.is_nil(gone)
    assert.equal("ENOTFOUND", code)
  end)

  it("refuses a copy after reading the source, writing nothing", function()
    refused(dry():copy("dry/app:v1", "dry/copy:v1"))
    assert.same({}, writes())
    assert.is_true(#fp:log("^/v2/dry/app/manifests/v1$") >= 1)  -- the source was read
    local repos = assert(registry.open(reg.host):repositories())
    assert.same({"dry/app"}, repos)
  end)
end)
