-- Registry timeouts through tests/support/fault_proxy.py in front of a real
-- docker-registry: a request fails when it cannot connect or when nothing
-- arrives for the stall timeout (open's `timeout`), never because a steady
-- transfer is long; the caller's `deadline` bounds a request with its
-- retries. The proxy's log counts the attempts; no wall-clock window is
-- asserted.
local registry = require "regsh.registry"
local servers = require "support.servers"
local cmd = require "support.cmd"

describe("registry timeouts", function()
  local reg, fp, blob, blob_digest

  setup(function()
    reg, fp = servers.proxied_registry{}
    local w = assert(registry.open(reg.host))
    -- 512 KiB that do not compress away
    local parts = {}
    for i = 1, 512 * 1024 / 16 do parts[i] = string.format("%015d\n", i * 7919) end
    blob = table.concat(parts)
    blob_digest = assert(w:blob_upload("slow/app", blob))
  end)

  teardown(function()
    servers.stop_all(fp, reg)
  end)

  before_each(function()
    fp:clear()
  end)

  it("completes a slow but steady blob download that lasts longer than the stall timeout",
     function()
    -- 16 chunks of 32 KiB, 0.25 s apart: about 4 s, never 1 s without a byte
    fp:add{action = "throttle", chunk = 32 * 1024, interval = 0.25,
           match = "/blobs/sha256:", times = -1}
    local r = registry.open(fp.host, {timeout = 1, retries = 0})
    local data, err = r:blob_get("slow/app", blob_digest)
    assert.equal(#blob, data and #data, err)
    assert.equal(blob, data)
    local log = fp:log("/blobs/sha256:")
    assert.equal(1, #log)
    assert.equal("throttle", log[1].action)
  end)

  it("fails a stalled answer with ETIMEDOUT after the stall timeout, each attempt", function()
    fp:add{action = "stall", seconds = 30, match = "/tags/list", times = -1}
    local r = registry.open(fp.host, {timeout = 1, retries = 2, backoff = 0.01})
    local tags, err, code = r:tags("slow/app")
    assert.is_nil(tags)
    assert.equal("ETIMEDOUT", code, err)
    assert.matches("after 3 attempts", err, 1, true)
    assert.equal(3, #fp:log("/tags/list"))
  end)

  it("fails a body that stops half-way with ETIMEDOUT after the stall timeout", function()
    fp:add{action = "hold", seconds = 30, match = "/blobs/sha256:", times = -1}
    local r = registry.open(fp.host, {timeout = 1, retries = 1, backoff = 0.01})
    local data, err, code = r:blob_get("slow/app", blob_digest)
    assert.is_nil(data)
    assert.equal("ETIMEDOUT", code, err)
    local held = 0
    for _, e in ipairs(fp:log("/blobs/sha256:")) do
      if e.action == "held" then held = held + 1 end
    end
    assert.equal(2, held)
  end)

  it("stops at the deadline: one stalled attempt, no retry, ETIMEDOUT naming it", function()
    fp:add{action = "stall", seconds = 30, match = "/tags/list", times = -1}
    local r = registry.open(fp.host, {timeout = 3, retries = 4, backoff = 0.01, deadline = 1})
    local tags, err, code = r:tags("slow/app")
    assert.is_nil(tags)
    assert.equal("ETIMEDOUT", code, err)
    assert.matches("deadline of 1s passed", err, 1, true)
    assert.equal(1, #fp:log("/tags/list"))
  end)

  it("starts no retry the deadline leaves no time for", function()
    -- backoff 0.2: the waits before attempts 2..5 are at least 0.1, 0.2, 0.4, 0.8 s,
    -- so within a 1.5 s deadline at most 5 of the 21 allowed attempts can start
    fp:add{action = "status", status = 503, match = "/tags/list", times = -1}
    local r = registry.open(fp.host, {retries = 20, backoff = 0.2, deadline = 1.5})
    local tags, err, code = r:tags("slow/app")
    assert.is_nil(tags)
    assert.equal("EHTTP", code, err)
    assert.matches("HTTP 503", err, 1, true)
    local attempts = #fp:log("/tags/list")
    assert.is_true(attempts >= 1 and attempts <= 5, attempts .. " attempts")
  end)

  it("checks the timeout options", function()
    assert.has_error(function() registry.open(fp.host, {deadline = 0}) end,
      "open: option 'deadline' must be a number of seconds > 0")
    assert.has_error(function() registry.open(fp.host, {timeout = -1}) end,
      "open: option 'timeout' must be a number of seconds >= 0")
    assert.has_error(function() registry.open(fp.host, {connect_timeout = "10"}) end,
      "open: option 'connect_timeout' must be a number, got string")
  end)

  it("regsh ls --deadline stops a stalled registry: exit 1, ETIMEDOUT, one attempt", function()
    fp:add{action = "stall", seconds = 30, match = "/tags/list", times = -1}
    local _, status, err = cmd.regsh({"ls", fp.host .. "/slow/app", "--deadline", "1"})
    assert.equal(1, status)
    assert.matches("ETIMEDOUT: .*deadline of 1s", err)
    assert.equal(1, #fp:log("/tags/list"))
  end)
end)
