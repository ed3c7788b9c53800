-- Copies between two real docker-registries: a ~100 MB layer is streamed
-- (GET to PATCHed chunks), so the regsh process's peak memory stays far
-- below the layer's size, and an interrupted copy leaves no temporary file.
-- The fault proxy's "hold" action stops the source mid-body at a known point.
local registry = require "regsh.registry"
local servers = require "support.servers"
local regs = require "support.registry"
local content = require "support.content"
local cmd = require "support.cmd"

local LAYER_MB = 100

-- client:copy in a task (where a stuck copy would show as a stuck scheduler)
local function async_copy(client)
  return require("regsh.async").wait(require("regsh.async").spawn(function()
    return assert(client:copy("src/app:v1", "dst/app"))
  end))
end

-- Temporary files Lua's os.tmpname makes (/tmp/lua_XXXXXX) over 10 MB: name -> true.
local function big_temp_files()
  local out = cmd.sh("find /tmp -maxdepth 1 -name 'lua_*' -size +10M 2>/dev/null")
  local set = {}
  for name in out:gmatch("[^\n]+") do set[name] = true end
  return set
end

describe("copy between registries", function()
  local a, b, fp, dir, layer_digest

  setup(function()
    a, b = regs.start{}, regs.start{}
    fp = servers.fault_proxy(a.url)
    dir = (cmd.sh("mktemp -d /tmp/regsh-copy-spec.XXXXXX"):gsub("%s+$", ""))
    local path = dir .. "/layer"
    local _, status = cmd.sh("head -c " .. LAYER_MB .. "M /dev/urandom > " .. cmd.quote(path))
    assert.equal(0, status)
    local src = assert(registry.open(a.host, {log = function() end}))
    layer_digest = assert(src:blob_upload("big/app", {path = path}, {chunk_size = 16 << 20}))
    os.remove(path)
    local config = '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}'
    local config_digest = assert(src:blob_upload("big/app", config))
    assert(src:put_manifest("big/app", "v1", {
      schemaVersion = 2, mediaType = content.OCI_MANIFEST,
      config = {mediaType = content.OCI_CONFIG, digest = config_digest, size = #config},
      layers = {{mediaType = "application/vnd.oci.image.layer.v1.tar", digest = layer_digest,
                 size = LAYER_MB << 20}},
    }))
  end)

  teardown(function()
    servers.stop(fp)
    regs.stop(a)
    regs.stop(b)
    if dir then cmd.sh("rm -rf " .. cmd.quote(dir)) end
  end)

  it("streams a 100 MB layer with a peak RSS far below its size", function()
    local script = string.format([[
      local digest = assert(regsh.registry.copy(%q, %q))
      local status = assert(io.open("/proc/self/status")):read("a")
      print(digest, status:match("VmHWM:%%s*(%%d+) kB"))
    ]], a.host .. "/big/app:v1", b.host .. "/copy/app:v1")
    local out, status, err = cmd.regsh({"-e", script})
    assert.equal(0, status, err)
    local digest, peak_kb = out:match("^(%S+)%s+(%d+)")
    assert.is_truthy(peak_kb, out)
    assert.is_true(cmd.sanitized or tonumber(peak_kb) < 60 * 1024,
      string.format("peak RSS %d kB copying a %d MB layer", peak_kb, LAYER_MB))
    local dst = assert(registry.open(b.host, {log = function() end}))
    assert.equal(digest, assert(dst:head("copy/app", "v1")).digest)
    assert.equal(LAYER_MB << 20, assert(dst:blob_head("copy/app", layer_digest)).size)
  end)

  it("leaves no temporary file when interrupted mid-layer", function()
    fp:add{action = "hold", method = "GET", match = "/blobs/" .. layer_digest, seconds = 60}
    local before = big_temp_files()
    local line = string.format("%s cp %s %s 2>&1 & pid=$!; "
      .. "for i in $(seq 1 600); do curl -s %s/_fault/log | grep -q '\"held\"' && break; "
      .. "sleep 0.1; done; kill -INT $pid; wait $pid; echo status=$?",
      cmd.quote(cmd.bin), fp.host .. "/big/app:v1", b.host .. "/held/app:v1", fp.url)
    local out = cmd.sh("sh -c " .. cmd.quote(line))
    assert.matches("interrupted", out)
    assert.matches("status=1", out)
    local held = 0
    for _, e in ipairs(fp:log()) do if e.action == "held" then held = held + 1 end end
    assert.equal(1, held)  -- it was stopped mid-layer, not before or after
    for name in pairs(big_temp_files()) do
      assert.is_true(before[name] ~= nil, "left behind: " .. name)
    end
  end)
end)

describe("copy within one registry that will not mount", function()
  local a, fp

  setup(function()
    a = regs.start{}
    fp = servers.fault_proxy(a.url)
  end)

  teardown(function()
    servers.stop(fp)
    regs.stop(a)
  end)

  it("streams the blobs instead, even at concurrency 1 (the GET holds the one slot)", function()
    local client = assert(registry.open(fp.host, {concurrency = 1, log = function() end}))
    -- a layer bigger than a streamed chunk, so PATCHes go out while the GET is open
    local layer = string.rep("0123456789abcdef", 9 << 16)
    local config = '{"architecture":"amd64","os":"linux"}'
    local d = assert(client:put_manifest("src/app", "v1", {
      schemaVersion = 2, mediaType = content.OCI_MANIFEST,
      config = {mediaType = content.OCI_CONFIG, size = #config,
                digest = assert(client:blob_upload("src/app", config))},
      layers = {{mediaType = "application/vnd.oci.image.layer.v1.tar", size = #layer,
                 digest = assert(client:blob_upload("src/app", layer))}},
    }))
    -- a registry that declines every mount answers 202 and starts an upload instead
    fp:add{action = "status", status = 202, method = "POST", match = "mount=", times = -1,
           body = ""}
    local copied = async_copy(client)
    assert.equal(d, copied)
    local declined = 0
    for _, e in ipairs(fp:log()) do
      if e.action == "status" and e.status == 202 then declined = declined + 1 end
    end
    assert.equal(2, declined)  -- config and layer
    assert.equal(d, assert(client:head("dst/app", "v1")).digest)
    assert.equal(#layer, assert(client:blob_head("dst/app",
      assert(client:manifest("dst/app", "v1")).layers[1].digest)).size)
  end)
end)
