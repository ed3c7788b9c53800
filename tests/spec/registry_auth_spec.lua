-- Registry auth and TLS against real docker-registry (distribution 2.8)
-- instances on 127.0.0.1: the Bearer token flow with the test token service
-- (tests/support/token_server.py signs RS256 JWTs the registry verifies
-- against its rootcertbundle), htpasswd Basic auth, and HTTPS with a
-- self-signed CA (ca_file), with insecure = true, and with neither (ETLS).
local registry = require "regsh.registry"
local async = require "regsh.async"
local loop = require "regsh.core.loop"
local servers = require "support.servers"
local regs = require "support.registry"
local content = require "support.content"

local SERVICE = "regsh-auth-spec"

local function elapsed_since(t0) return loop.monotonic() - t0 end

describe("registry Bearer token auth", function()
  local ts, reg, fp

  setup(function()
    ts = servers.token_server{users = {alice = "s3cret-alice", reader = {"s3cret-reader", "pull"}}}
    -- the proxy's log shows every 401 the registry answered the client
    reg, fp = servers.proxied_registry{token = ts:registry_option(SERVICE)}
  end)

  teardown(function()
    servers.stop_all(fp, reg, ts)
  end)

  -- 401s the registry answered on repository paths (the /v2/ ping's 401 is how
  -- the client learns the realm; any other is a token sent where it is not valid)
  local function rejected(pattern)
    local out = {}
    for _, e in ipairs(fp:log(pattern)) do
      if e.status == 401 then out[#out + 1] = e.method .. " " .. e.path end
    end
    return out
  end

  local function two_repositories(prefix)
    local w = registry.open(reg.host, {username = "alice", password = "s3cret-alice"})
    local a = assert(content.push_image(w, prefix .. "/a", "v1"))
    local b = assert(content.push_image(w, prefix .. "/b", "v1"))
    return a, b
  end

  it("sends each repository a token for that repository, never another's", function()
    local a, b = two_repositories("scoped")
    ts:reset()
    fp:clear()
    local r = registry.open(fp.host, {username = "alice", password = "s3cret-alice"})
    assert.equal(a, assert(r:manifest("scoped/a", "v1")).digest)
    assert.equal(b, assert(r:manifest("scoped/b", "v1")).digest)
    assert.same({}, rejected("^/v2/scoped/"))
    local stats = ts:stats()
    assert.equal(2, stats.tokens)
    assert.equal(1, stats.scopes["repository:scoped/a:pull"])
    assert.equal(1, stats.scopes["repository:scoped/b:pull"])
  end)

  it("keeps a token per scope: reads alternating between two repositories cost 2 tokens", function()
    local a, b = two_repositories("alternate")
    ts:reset()
    fp:clear()
    local r = registry.open(fp.host, {username = "alice", password = "s3cret-alice"})
    for _ = 1, 4 do
      assert.equal(a, assert(r:head("alternate/a", "v1")).digest)
      assert.equal(b, assert(r:head("alternate/b", "v1")).digest)
    end
    assert.same({}, rejected("^/v2/alternate/"))
    assert.equal(8, #fp:log("^/v2/alternate/"))
    assert.equal(2, ts:stats().tokens)
  end)

  it("answers the ping with a Bearer challenge naming the token service (sanity)", function()
    local status, body = servers.curl("GET", reg.url .. "/v2/")
    assert.equal(401, status)
    assert.is_table(body)
  end)

  it("pushes, pulls and deletes with tokens for push, pull and delete scopes", function()
    ts:reset()
    local r = registry.open(reg.host, {username = "alice", password = "s3cret-alice"})
    local md, raw, blobs = content.push_image(r, "team/app", "v1")
    assert.is_string(md, raw)
    assert.equal(content.sha256(raw), md)
    local head = assert(r:head("team/app", "v1"))
    assert.equal(md, head.digest)
    local m = assert(r:manifest("team/app", "v1"))
    assert.equal(blobs.config, m.config.digest)
    assert.equal(raw, m.raw)
    local cfg = assert(r:config("team/app", m))
    assert.equal("amd64", cfg.architecture)
    local names = content.count_by(assert(r:tags("team/app")), "name")
    assert.same({v1 = 1}, names)
    assert.is_true(r:delete("team/app", md))
    local gone, err, code = r:head("team/app", "v1")
    assert.is_nil(gone)
    assert.equal("ENOTFOUND", code, err)
    -- every scope the client asked for was granted through the token service
    local stats = ts:stats()
    assert.is_true(stats.tokens >= 1)
    local actions = {}
    for scope in pairs(stats.scopes) do
      assert.matches("^repository:team/app:", scope)
      for a in scope:match(":([%w,]+)$"):gmatch("%w+") do actions[a] = true end
    end
    assert.is_true(actions.pull and actions.push and actions.delete and true or false,
      "scopes asked: " .. table.concat((function()
        local t = {}; for s in pairs(stats.scopes) do t[#t + 1] = s end; return t end)(), " "))
    assert.equal(0, stats.denied)
  end)

  it("caches tokens per scope: 60 concurrent reads cost at most 2 tokens", function()
    local w = registry.open(reg.host, {username = "alice", password = "s3cret-alice"})
    local md = assert(content.push_image(w, "cache/app", "v1"))
    for i = 2, 6 do assert(w:put_manifest("cache/app", "v" .. i, assert(w:manifest("cache/app", "v1")).raw,
      content.OCI_MANIFEST)) end
    ts:reset()
    local r = registry.open(reg.host, {username = "alice", password = "s3cret-alice", concurrency = 8})
    local tags = assert(r:tags("cache/app"))
    assert.equal(6, #tags)
    local fns = {}
    for i = 1, 60 do
      fns[i] = function() return assert(r:head("cache/app", "v" .. (i % 6 + 1))).digest end
    end
    local results = async.gather(fns, {concurrency = 8})
    for i = 1, 60 do assert.equal(md, results[i]) end
    local stats = ts:stats()
    assert.is_true(stats.tokens >= 1)
    assert.is_true(stats.tokens <= 2, "the token service issued " .. stats.tokens
      .. " tokens for 61 calls with one scope")
  end)

  -- 50 tasks start together on a new client of the proxy, reading PREFIX/a
  -- and PREFIX/b (halves); remembered: the scheme cache knows the proxy.
  -- Returns the token service's stats.
  local function herd(prefix, remembered)
    local w = registry.open(reg.host, {username = "alice", password = "s3cret-alice"})
    local digests = {a = assert(content.push_image(w, prefix .. "/a", "v1")),
                     b = assert(content.push_image(w, prefix .. "/b", "v1"))}
    -- (the module the client will require: tests/helper.lua resets it per test)
    if remembered then require("regsh.registry.schemes").remember(fp.host, "http") end
    ts:reset()
    fp:clear()
    local r = registry.open(fp.host, {username = "alice", password = "s3cret-alice",
                                       concurrency = 50})
    local function half(i) return i % 2 == 0 and "a" or "b" end
    local fns = {}
    for i = 1, 50 do
      fns[i] = function() return assert(r:head(prefix .. "/" .. half(i), "v1")).digest end
    end
    local results = async.gather(fns)
    for i = 1, 50 do assert.equal(digests[half(i)], results[i]) end
    local stats = ts:stats()
    assert.equal(1, stats.scopes["repository:" .. prefix .. "/a:pull"])
    assert.equal(1, stats.scopes["repository:" .. prefix .. "/b:pull"])
    assert.equal(2, stats.tokens, "tokens issued for two scopes")
    return stats
  end

  it("50 tasks starting together on a new client send one /v2/ ping and one token request"
     .. " per scope", function()
    herd("herd")
    assert.equal(1, #fp:log("^/v2/$"), "/v2/ pings from one client")
  end)

  it("50 tasks starting together on a client whose scheme is remembered send no ping, one"
     .. " read without a token, and one token request per scope", function()
    herd("herd2", true)
    assert.equal(0, #fp:log("^/v2/$"), "/v2/ pings")
    -- the read that went first learnt the realm from its own 401; the others waited for it
    assert.equal(1, #rejected("^/v2/herd2/"), "reads refused for want of a token")
    assert.equal(51, #fp:log("^/v2/herd2/"))
  end)

  it("renews a short-lived token instead of using it past expires_in", function()
    local short = servers.token_server{users = {alice = "pw"}, ttl = 2}
    local r2 = regs.start{token = short:registry_option(SERVICE)}
    local ok, err = pcall(function()
      local r = registry.open(r2.host, {username = "alice", password = "pw"})
      local md = assert(content.push_image(r, "renew/app", "v1"))
      local before = short:stats().tokens
      assert.is_true(before >= 1)
      async.sleep(3)  -- the token's expires_in (2 s) has passed
      assert.equal(md, assert(r:head("renew/app", "v1")).digest)
      assert.is_true(short:stats().tokens > before,
        "no new token was fetched after expires_in: the client reused an expired token")
    end)
    regs.stop(r2)
    servers.stop(short)
    assert(ok, err)
  end)

  it("fails fast with EAUTH on a bad password, without retrying or leaking it", function()
    ts:reset()
    local log = content.log_sink()
    local r = registry.open(reg.host, {username = "alice", password = "wrong-Pa55word",
                                       retries = 4, log = log.fn})
    local t0 = loop.monotonic()
    local res, err, code = r:tags("team/app")
    assert.is_nil(res)
    assert.equal("EAUTH", code, err)
    assert.matches(reg.host, err, 1, true)
    assert.is_true(elapsed_since(t0) < 2, "EAUTH took " .. elapsed_since(t0) .. " s (retried?)")
    assert.equal(1, ts:stats().denied, "the bad credentials were sent more than once")
    assert.is_nil(err:find("wrong-Pa55word", 1, true))
    assert.is_nil(log.text():find("wrong-Pa55word", 1, true))
  end)

  it("gives EAUTH (not a retry loop) to an anonymous client the token service grants nothing", function()
    ts:reset()
    local r = registry.open(reg.host, {retries = 4})
    local t0 = loop.monotonic()
    local res, err, code = r:tags("team/app")
    assert.is_nil(res)
    assert.equal("EAUTH", code, err)
    assert.is_true(elapsed_since(t0) < 2)
    assert.is_true(ts:stats().tokens <= 2)
  end)

  it("refuses a push a pull-only user is not granted, and writes nothing", function()
    local w = registry.open(reg.host, {username = "alice", password = "s3cret-alice"})
    local md = assert(content.push_image(w, "ro/app", "v1"))
    local r = registry.open(reg.host, {username = "reader", password = "s3cret-reader"})
    assert.equal(md, assert(r:head("ro/app", "v1")).digest)  -- pull is granted
    local t0 = loop.monotonic()
    local d, err, code = r:put_manifest("ro/app", "v2", assert(r:manifest("ro/app", "v1")).raw,
      content.OCI_MANIFEST)
    assert.is_nil(d)
    assert.is_truthy(code == "EAUTH" or code == "EDENIED", err)
    assert.is_true(elapsed_since(t0) < 2)
    local gone, _, gcode = w:head("ro/app", "v2")
    assert.is_nil(gone)
    assert.equal("ENOTFOUND", gcode)
    local ok, _, dcode = r:delete("ro/app", md)
    assert.is_nil(ok)
    assert.is_truthy(dcode == "EAUTH" or dcode == "EDENIED")
    assert.equal(md, assert(w:head("ro/app", "v1")).digest)
  end)

  it("never shows the password or a token in logs or errors", function()
    local log = content.log_sink()
    local r = registry.open(reg.host, {username = "alice", password = "s3cret-alice", log = log.fn})
    assert(content.push_image(r, "secret/app", "v1"))
    local _, err = r:manifest("secret/app", "nope")
    local text = log.text() .. "\n" .. tostring(err)
    assert.is_nil(text:find("s3cret-alice", 1, true))
    assert.is_nil(text:find("eyJ", 1, true), "a JWT appears in the log or error")
    assert.is_nil(text:find("Basic YWxp", 1, true))
  end)
end)

describe("registry Basic auth (htpasswd)", function()
  local reg
  setup(function() reg = regs.start{htpasswd = {bob = "b0b-pass"}} end)
  teardown(function() regs.stop(reg) end)

  it("pushes and reads with Basic credentials", function()
    local r = registry.open(reg.host, {username = "bob", password = "b0b-pass"})
    local md = assert(content.push_image(r, "basic/app", "v1"))
    assert.equal(md, assert(r:head("basic/app", "v1")).digest)
    assert.same({"basic/app"}, assert(r:repositories()))
  end)

  it("fails fast with EAUTH on a wrong password", function()
    local r = registry.open(reg.host, {username = "bob", password = "nope-nope", retries = 4})
    local t0 = loop.monotonic()
    local res, err, code = r:tags("basic/app")
    assert.is_nil(res)
    assert.equal("EAUTH", code, err)
    assert.is_true(elapsed_since(t0) < 2)
    assert.is_nil(err:find("nope-nope", 1, true))
  end)
end)

describe("registry over TLS with a self-signed CA", function()
  local reg, pki
  setup(function()
    pki = servers.pki()
    reg = regs.start{tls = pki.server_cert .. "," .. pki.server_key}
  end)
  teardown(function() regs.stop(reg) end)

  local function roundtrip(r, repo)
    local md, raw = content.push_image(r, repo, "v1")
    assert.is_string(md, raw)
    local m = assert(r:manifest(repo, "v1"))
    assert.equal(md, m.digest)
    local blob = assert(r:blob_get(repo, m.layers[1].digest))
    assert.matches("^layer of " .. repo, blob)
  end

  it("verifies the server with ca_file", function()
    roundtrip(registry.open("https://" .. reg.host, {ca_file = pki.ca}), "tls/ca")
  end)

  it("connects with insecure = true and no CA", function()
    roundtrip(registry.open("https://" .. reg.host, {insecure = true}), "tls/insecure")
  end)

  it("refuses an unverifiable certificate with ETLS, quickly", function()
    local r = registry.open("https://" .. reg.host, {retries = 4})
    local t0 = loop.monotonic()
    local res, err, code = r:repositories()
    assert.is_nil(res)
    assert.equal("ETLS", code, err)
    assert.matches("127.0.0.1", err, 1, true)
    assert.is_true(elapsed_since(t0) < 2, "ETLS took " .. elapsed_since(t0) .. " s (retried?)")
  end)

  it("refuses a CA that did not sign the certificate with ETLS", function()
    -- the token-signing certificate is a CA too, but not the server's issuer
    local r = registry.open("https://" .. reg.host, {ca_file = pki.token_cert})
    local res, err, code = r:repositories()
    assert.is_nil(res)
    assert.equal("ETLS", code, err)
  end)
end)
