-- Registry client robustness through tests/support/fault_proxy.py in front of
-- a real docker-registry: 429 + Retry-After, 503s, connection resets, delays
-- beyond the timeout, HTML and garbage answers, corrupted and truncated
-- bodies. The proxy's request log is the witness of what the client did.
-- distribution 2.8 answers every tag at once, so the proxy also emulates
-- n/last tag-list pagination (relative Link headers) to put faults mid-listing.
local registry = require "regsh.registry"
local async = require "regsh.async"
local servers = require "support.servers"
local regs = require "support.registry"
local images = require "support.images"
local content = require "support.content"

local COUNT = 120

describe("registry client under injected faults", function()
  local reg, fp, digests

  local function expected(i) return digests[i % #digests + 1] end
  local function tag(i) return images.tag_name(i, COUNT) end

  local function client(opts)
    opts = opts or {}
    local o = {page_size = 50, retries = 4, timeout = 10}
    for k, v in pairs(opts) do o[k] = v end
    return registry.open(fp.host, o)
  end

  local function check_listing(tags)
    assert.equal(COUNT, #tags)
    local seen = content.count_by(tags, "name")
    for i = 0, COUNT - 1 do assert.equal(1, seen[tag(i)], tag(i)) end
  end

  setup(function()
    reg = regs.start{}
    digests = images.seed_tags(reg.url, "app", COUNT, 3)
    fp = servers.fault_proxy(reg.url)
    fp:paginate("relative")
  end)

  teardown(function()
    servers.stop(fp)
    regs.stop(reg)
  end)

  before_each(function() fp:clear() end)

  it("passes everything through untouched without rules (sanity)", function()
    local r = client()
    check_listing(assert(r:tags("app")))
    assert.equal(expected(5), assert(r:head("app", tag(5))).digest)
    assert.is_true(#fp:log("/v2/app/tags/list") >= 3)  -- 120 tags, pages of 50
  end)

  it("honours Retry-After on a 429 and then lists every tag", function()
    fp:add{action = "status", status = 429, headers = {["Retry-After"] = "1"},
           match = "/v2/app/tags/list", times = 1}
    local r = client()
    check_listing(assert(r:tags("app")))
    local log = fp:log("/v2/app/tags/list")
    assert.equal("status", log[1].action)
    assert.equal(429, log[1].status)
    assert.equal("paginate", log[2].action)
    assert.equal(200, log[2].status)
    assert.equal(log[1].path, log[2].path)
    assert.is_true(log[2].t - log[1].t >= 0.95,
      string.format("retried %.3f s after a 429 with Retry-After: 1", log[2].t - log[1].t))
  end)

  it("honours Retry-After on a 503 too, not only on a 429", function()
    fp:add{action = "status", status = 503, headers = {["Retry-After"] = "1"},
           match = "/manifests/" .. tag(16) .. "$", times = 1}
    local sink = content.log_sink()
    -- backoff 0.01 s: a retry sooner than 1 s can only come from ignoring Retry-After
    local r = client{backoff = 0.01, log = sink.fn}
    assert.equal(expected(16), assert(r:head("app", tag(16))).digest)
    local log = fp:log("/manifests/" .. tag(16) .. "$")
    assert.equal(2, #log)
    assert.same({503, 200}, {log[1].status, log[2].status})
    assert.matches("HTTP 503, retrying in 1.0s", sink.text(), 1, true)
    assert.is_true(log[2].t - log[1].t >= 0.95,
      string.format("retried %.3f s after a 503 with Retry-After: 1", log[2].t - log[1].t))
  end)

  it("retries 503s on a manifest HEAD and returns the right digest", function()
    fp:add{action = "status", status = 503, match = "/manifests/" .. tag(7) .. "$", times = 2}
    local r = client()
    assert.equal(expected(7), assert(r:head("app", tag(7))).digest)
    local log = fp:log("/manifests/" .. tag(7) .. "$")
    assert.equal(3, #log)
    assert.same({503, 503}, {log[1].status, log[2].status})
    assert.equal("forward", log[3].action)
  end)

  it("retries a 503 in the middle of a paginated listing without duplicates", function()
    fp:add{action = "status", status = 503, match = "/v2/app/tags/list", skip = 1, times = 1}
    check_listing(assert(client():tags("app")))
    local log = fp:log("/v2/app/tags/list")
    assert.equal(503, log[2].status)
    assert.equal(log[2].path, log[3].path)  -- the same page again, not the next one
  end)

  it("retries connection resets and returns the right manifest", function()
    fp:add{action = "reset", match = "/manifests/" .. tag(8) .. "$", times = 2}
    local m = assert(client():manifest("app", tag(8)))
    assert.equal(expected(8), m.digest)
    assert.equal(content.sha256(m.raw), m.digest)
    local log = fp:log("/manifests/" .. tag(8) .. "$")
    assert.same({"reset", "reset"}, {log[1].action, log[2].action})
  end)

  it("retries a body cut short by a reset and never returns the partial body", function()
    fp:add{action = "truncate", match = "/manifests/" .. tag(9) .. "$", times = 1}
    local m, err = client():manifest("app", tag(9))
    assert.is_table(m, err)
    assert.equal(expected(9), m.digest)
    assert.equal(content.sha256(m.raw), m.digest)
  end)

  it("gives up after `retries` attempts with EHTTP naming the status", function()
    fp:add{action = "status", status = 503, match = "/manifests/" .. tag(10) .. "$", times = -1}
    local r = client{retries = 2}
    local res, err, code = r:head("app", tag(10))
    assert.is_nil(res)
    assert.equal("EHTTP", code, err)
    assert.matches("503", err)
    assert.matches(tag(10), err, 1, true)
    assert.matches("after 3 attempts", err, 1, true)
    -- the proxy counts the attempts: 1 + retries, then no more
    local log = fp:log("/manifests/" .. tag(10) .. "$")
    assert.equal(3, #log)
    for _, e in ipairs(log) do assert.equal(503, e.status) end
  end)

  it("does not retry a 403: EDENIED at once", function()
    fp:add{action = "status", status = 403, match = "/manifests/" .. tag(11) .. "$", times = -1,
           body = '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}'}
    local res, err, code = client():head("app", tag(11))
    assert.is_nil(res)
    assert.equal("EDENIED", code, err)
    assert.equal(1, #fp:log("/manifests/" .. tag(11) .. "$"))
  end)

  it("times out an answer that does not come within `timeout` with ETIMEDOUT, retried", function()
    -- stall: the proxy logs the request when it arrives, then answers nothing for 3 s
    fp:add{action = "stall", seconds = 3, match = "/manifests/" .. tag(12) .. "$", times = -1}
    local r = client{timeout = 1, retries = 2, backoff = 0.01}
    local res, err, code = r:manifest("app", tag(12))
    assert.is_nil(res)
    assert.equal("ETIMEDOUT", code, err)
    assert.matches(tag(12), err, 1, true)
    assert.matches("after 3 attempts", err, 1, true)
    -- a timeout is worth another try: 1 + retries requests reached the server
    local log = fp:log("/manifests/" .. tag(12) .. "$")
    assert.equal(3, #log)
    for _, e in ipairs(log) do assert.equal("stall", e.action) end
  end)

  it("retries after a timeout and returns the answer that then comes in time", function()
    fp:add{action = "stall", seconds = 3, match = "/manifests/" .. tag(17) .. "$", times = 1}
    local r = client{timeout = 1, retries = 2, backoff = 0.01}
    assert.equal(expected(17), assert(r:head("app", tag(17))).digest)
    local log = fp:log("/manifests/" .. tag(17) .. "$")
    assert.equal(2, #log)
    assert.same({"stall", "forward"}, {log[1].action, log[2].action})
  end)

  it("waits for a delayed response within `timeout`", function()
    fp:add{action = "delay", seconds = 1, match = "/manifests/" .. tag(13) .. "$", times = 1}
    local r = client{timeout = 5}
    assert.equal(expected(13), assert(r:head("app", tag(13))).digest)
    assert.equal(1, #fp:log("/manifests/" .. tag(13) .. "$"))
  end)

  it("reports an HTML page answered with 200 as EPROTO naming the reference", function()
    fp:add{action = "garbage", match = "/manifests/" .. tag(14) .. "$", times = -1}
    local res, err, code = client():manifest("app", tag(14))
    assert.is_nil(res)
    assert.equal("EPROTO", code, err)
    assert.matches("app", err, 1, true)
    assert.matches(tag(14), err, 1, true)
  end)

  it("reports garbage JSON in a tag listing as EPROTO", function()
    fp:add{action = "status", status = 200, body = '{"name":"app","tags":[tru',
           match = "/v2/app/tags/list", times = -1}
    local res, err, code = client():tags("app")
    assert.is_nil(res)
    assert.equal("EPROTO", code, err)
    assert.matches("app", err, 1, true)
  end)

  it("rejects a manifest whose bytes do not match its digest (EDIGEST)", function()
    local d = expected(15)
    fp:add{action = "corrupt", match = "/manifests/" .. d, times = -1}
    local res, err, code = client():manifest("app", d)
    assert.is_nil(res)
    assert.equal("EDIGEST", code, err)
  end)

  it("HEADs all 120 tags with concurrency 8 through intermittent 429s, 503s and resets", function()
    -- per_path = 1: one request meets each kind of fault at most once, so at
    -- most 3 failures per call, within the 4 retries
    local ids = fp:add{
      {action = "status", status = 503, match = "/manifests/", times = 8, per_path = 1},
      {action = "reset", match = "/manifests/", skip = 20, times = 6, per_path = 1},
      {action = "status", status = 429, headers = {["Retry-After"] = "1"}, match = "/manifests/",
       skip = 40, times = 6, per_path = 1},
    }
    local r = client{concurrency = 8}
    local fns = {}
    for i = 0, COUNT - 1 do
      fns[#fns + 1] = function() return assert(r:head("app", tag(i))).digest end
    end
    local results = async.gather(fns, {concurrency = 8})
    for i = 0, COUNT - 1 do assert.equal(expected(i), results[i + 1], tag(i)) end
    local mine, faults = {}, 0
    for _, id in ipairs(ids) do mine[id] = true end
    local log = fp:log("/manifests/")
    for _, e in ipairs(log) do
      if mine[e.rule] then faults = faults + 1 end
    end
    assert.equal(20, faults)
    -- each fault cost exactly one more attempt, and nothing was asked twice otherwise
    assert.equal(COUNT + 20, #log)
    local per_tag = content.count_by(log, "path")
    for i = 0, COUNT - 1 do
      local n = per_tag["/v2/app/manifests/" .. tag(i)]
      assert.is_true(n >= 1 and n <= 4, tag(i) .. " was asked " .. tostring(n) .. " times")
    end
  end)

  it("counts a 404 on delete as done", function()
    local r = client()
    assert.is_true(r:delete("app", "sha256:" .. string.rep("0", 64)))
  end)
end)
