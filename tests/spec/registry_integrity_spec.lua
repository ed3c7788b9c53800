-- What the client accepts from a registry, against a real docker-registry:
-- blobs and manifests are checked against their digests (the proxy
-- tests/support/fault_proxy.py corrupts one byte, and for the check by digest
-- alone also drops Docker-Content-Digest), and a manifest of 4 MiB is read
-- while one byte more is refused with ETOOBIG (distribution 2.8 stores the
-- first but refuses the second itself, so the proxy serves that one).
local registry = require "regsh.registry"
local servers = require "support.servers"
local regs = require "support.registry"
local content = require "support.content"

local q = regs.shell_quote
local MAX = 4 * 1024 * 1024

describe("registry content integrity", function()
  local reg, fp, md, raw, blobs

  local function client() return registry.open(fp.host, {retries = 0}) end

  local function read_file(path)
    local f = io.open(path, "rb")
    if not f then return nil end
    local s = f:read("a")
    f:close()
    return s
  end

  -- the entries of the proxy's log a rule with this action answered
  local function applied(action)
    local n = 0
    for _, e in ipairs(fp:log()) do if e.action == action then n = n + 1 end end
    return n
  end

  -- PUT raw as repo:tag with curl (not the client under test); the HTTP status
  local function curl_put_manifest(repo, tag, bytes)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(bytes)
    f:close()
    local out = servers.sh("curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "
      .. q("Content-Type: " .. content.OCI_MANIFEST) .. " --data-binary @" .. q(path) .. " "
      .. q(reg.url .. "/v2/" .. repo .. "/manifests/" .. tag) .. " 2>&1")
    os.remove(path)
    return tonumber(out)
  end

  -- an OCI manifest of exactly `size` bytes: the image's, padded with an annotation
  local function manifest_of_size(size)
    local head = raw:sub(1, -2) .. ',"annotations":{"pad":"'
    local tail = '"}}'
    return head .. string.rep("x", size - #head - #tail) .. tail
  end

  setup(function()
    reg, fp = servers.proxied_registry{}
    md, raw, blobs = content.push_image(registry.open(reg.host), "int/app", "v1")
    assert.is_string(md, raw)
  end)

  teardown(function() servers.stop_all(fp, reg) end)

  before_each(function() fp:clear() end)

  describe("blobs", function()
    it("returns a blob's exact bytes, in memory and to a file (sanity)", function()
      local r = client()
      local data = assert(r:blob_get("int/app", blobs.layer))
      assert.equal(blobs.layer, content.sha256(data))
      local path = os.tmpname()
      assert.is_true(r:blob_get("int/app", blobs.layer, {output = path}))
      assert.equal(data, read_file(path))
      os.remove(path)
    end)

    it("rejects a corrupted blob read into memory with EDIGEST", function()
      fp:add{action = "corrupt", match = "/blobs/" .. blobs.layer, method = "GET", times = -1}
      local data, err, code = client():blob_get("int/app", blobs.layer)
      assert.is_nil(data)
      assert.equal("EDIGEST", code, err)
      assert.matches(blobs.layer, err, 1, true)
      assert.equal(1, applied("corrupt"))
    end)

    it("rejects a corrupted blob written to a file with EDIGEST and removes the file", function()
      fp:add{action = "corrupt", match = "/blobs/" .. blobs.layer, method = "GET", times = -1}
      local path = os.tmpname()
      local ok, err, code = client():blob_get("int/app", blobs.layer, {output = path})
      assert.is_nil(ok)
      assert.equal("EDIGEST", code, err)
      assert.is_nil(read_file(path), "the corrupted download was left at " .. path)
      assert.equal(1, applied("corrupt"))
    end)
  end)

  describe("manifests", function()
    it("rejects a manifest asked for by digest whose bytes do not hash to it, with no"
       .. " Docker-Content-Digest to compare", function()
      fp:add{action = "corrupt", match = "/manifests/" .. md, drop_headers = {"Docker-Content-Digest"},
             times = -1}
      local m, err, code = client():manifest("int/app", md)
      assert.is_nil(m)
      assert.equal("EDIGEST", code, err)
      assert.matches("the registry sent content with digest", err, 1, true)
      assert.equal(1, applied("corrupt"))
    end)

    it("rejects a manifest asked for by tag whose bytes differ from its Docker-Content-Digest",
       function()
      fp:add{action = "corrupt", match = "/manifests/v1$", times = -1}
      local m, err, code = client():manifest("int/app", "v1")
      assert.is_nil(m)
      assert.equal("EDIGEST", code, err)
      assert.matches("Docker-Content-Digest says " .. md, err, 1, true)
      assert.equal(1, applied("corrupt"))
    end)

    it("reads a manifest of exactly 4 MiB", function()
      local big = manifest_of_size(MAX)
      assert.equal(201, curl_put_manifest("int/app", "max", big))
      local m = assert(client():manifest("int/app", "max"))
      assert.equal(MAX, m.size)
      assert.equal(content.sha256(big), m.digest)
    end)

    it("refuses a manifest one byte over 4 MiB with ETOOBIG", function()
      local big = manifest_of_size(MAX + 1)
      local path = os.tmpname()
      local f = assert(io.open(path, "wb"))
      f:write(big)
      f:close()
      -- a well-formed manifest with its true digest: only its size is wrong
      fp:add{action = "status", status = 200, match = "/manifests/over$", times = -1,
             body_file = path, content_type = content.OCI_MANIFEST,
             headers = {["Docker-Content-Digest"] = content.sha256(big)}}
      local m, err, code = client():manifest("int/app", "over")
      os.remove(path)
      assert.is_nil(m and ("read a manifest of " .. m.size .. " bytes"))
      assert.equal("ETOOBIG", code, err)
      assert.matches("int/app:over", err, 1, true)
      assert.equal(1, applied("status"))
    end)
  end)
end)
