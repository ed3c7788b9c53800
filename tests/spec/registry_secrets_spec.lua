-- No secret in an error message or a log line, even when the registry echoes
-- it back: tests/support/fault_proxy.py, in front of a real docker-registry,
-- puts the credential the request carried (the Basic password, the Bearer
-- token) into a response body, a redirect URL or a challenge header. Each
-- test also checks that the echo reached the message or the log (as
-- <redacted>), so it cannot pass because nothing could have leaked.
local registry = require "regsh.registry"
local servers = require "support.servers"
local content = require "support.content"

local MASK = "<redacted>"
local PASSWORD = "Pa55-echo-s3cret"

local function refute_contains(secret, text, what)
  assert.is_nil(text:find(secret, 1, true), what .. " shows the secret: " .. text)
end

describe("registry secrets echoed by a Basic-auth registry", function()
  local reg, fp, blobs

  local function client(log)
    return registry.open(fp.host, {username = "eve", password = PASSWORD, retries = 0,
                                   log = log and log.fn or function() end})
  end

  setup(function()
    reg, fp = servers.proxied_registry{htpasswd = {eve = PASSWORD}}
    local _
    _, _, blobs = assert(content.push_image(registry.open(reg.host,
      {username = "eve", password = PASSWORD}), "echo/app", "v1"))
  end)

  teardown(function() servers.stop_all(fp, reg) end)

  before_each(function() fp:clear() end)

  it("scrubs the password from a 500 whose JSON error echoes it", function()
    fp:add{action = "status", status = 500, match = "/manifests/v1$",
           body = '{"errors":[{"code":"UNKNOWN","message":"cannot check eve/{secret}"}]}'}
    local log = content.log_sink()
    local m, err, code = client(log):manifest("echo/app", "v1")
    assert.is_nil(m)
    assert.equal("EHTTP", code, err)
    assert.matches("cannot check eve/" .. MASK, err, 1, true)
    refute_contains(PASSWORD, err, "the error")
    refute_contains(PASSWORD, log.text(), "the log")
  end)

  it("scrubs the password from a 500 whose plain-text body echoes it", function()
    fp:add{action = "status", status = 500, match = "/manifests/v1$", content_type = "text/plain",
           body = "backend said: user eve has {secret} as password"}
    local m, err, code = client():manifest("echo/app", "v1")
    assert.is_nil(m)
    assert.equal("EHTTP", code, err)
    assert.matches("user eve has " .. MASK, err, 1, true)
    refute_contains(PASSWORD, err, "the error")
  end)

  it("scrubs the password from a redirect URL in the log", function()
    -- the blob's own URL again, with the password in its query: the client
    -- follows it (same origin) and logs each request's URL
    fp:add{action = "redirect", status = 307, match = "/blobs/" .. blobs.layer .. "$",
           location = "/v2/echo/app/blobs/" .. blobs.layer .. "?echo={secret}"}
    local log = content.log_sink()
    local data = assert(client(log):blob_get("echo/app", blobs.layer))
    assert.equal(blobs.layer, content.sha256(data))
    local followed = fp:log("echo=")
    assert.equal(1, #followed)
    assert.matches("echo=" .. PASSWORD, followed[1].path, 1, true)  -- the echo happened
    assert.matches("?echo=" .. MASK, log.text(), 1, true)
    refute_contains(PASSWORD, log.text(), "the log")
  end)
end)

describe("registry secrets echoed by a Bearer-auth registry", function()
  local ts, reg, fp

  setup(function()
    ts = servers.token_server{users = {eve = PASSWORD}}
    reg, fp = servers.proxied_registry{token = ts:registry_option("regsh-secrets-spec")}
    assert(content.push_image(registry.open(reg.host, {username = "eve", password = PASSWORD}),
      "echo/app", "v1"))
  end)

  teardown(function()
    servers.stop_all(fp, reg, ts)
  end)

  it("scrubs the token from a 500 that echoes it, in the error and the log", function()
    fp:add{action = "status", status = 500, match = "/manifests/v1$",
           body = '{"errors":[{"code":"UNAUTHORIZED","message":"token {secret} is not valid"}]}'}
    local log = content.log_sink()
    local r = registry.open(fp.host, {username = "eve", password = PASSWORD, retries = 0,
                                      log = log.fn})
    local m, err, code = r:manifest("echo/app", "v1")
    assert.is_nil(m)
    assert.equal("EHTTP", code, err)
    assert.matches("token " .. MASK .. " is not valid", err, 1, true)
    refute_contains("eyJ", err, "the error")  -- a JWT starts so
    refute_contains("eyJ", log.text(), "the log")
    refute_contains(PASSWORD, err .. log.text(), "the error or the log")
  end)

  -- BUG (reported, not fixed here: lua/ belongs to the registry restructuring):
  -- Transport:registry_error cuts a non-JSON body to 120 bytes before the
  -- message is scrubbed, so a secret cut in two is no longer found whole and
  -- its first part is shown. Pending until registry_error scrubs, then cuts.
  it("scrubs a token echoed in a plain-text body longer than the 120 bytes shown", function()
    fp:add{action = "status", status = 500, match = "/manifests/v1$", content_type = "text/plain",
           body = "token {secret} is not valid here"}
    local r = registry.open(fp.host, {username = "eve", password = PASSWORD, retries = 0})
    local m, err, code = r:manifest("echo/app", "v1")
    assert.is_nil(m)
    assert.equal("EHTTP", code, err)
    assert.matches("token " .. MASK, err, 1, true)
    refute_contains("eyJ", err, "the error")
  end)
end)

describe("registry secrets echoed in a challenge header", function()
  local reg, fp

  setup(function()
    reg, fp = servers.proxied_registry{htpasswd = {eve = PASSWORD}}
  end)

  teardown(function() servers.stop_all(fp, reg) end)

  -- a 401 whose Bearer realm carries the password; port 1 refuses connections,
  -- so the client's messages name the token service, that is the realm
  local function echo_in_realm()
    fp:add{action = "status", status = 401, match = "/tags/list", times = -1,
           headers = {["WWW-Authenticate"] = 'Bearer realm="http://127.0.0.1:1/token/{secret}"'}}
    local log = content.log_sink()
    local r = registry.open(fp.host, {username = "eve", password = PASSWORD, retries = 0,
                                      log = log.fn})
    local res, err, code = r:tags("echo/app")
    assert.is_nil(res)
    assert.equal("ECONNREFUSED", code, err)
    return err, log.text()
  end

  it("keeps the password echoed in a Bearer realm out of the log", function()
    local _, log = echo_in_realm()
    assert.matches("/token/" .. MASK, log, 1, true)
    refute_contains(PASSWORD, log, "the log")
  end)

  -- BUG (reported, not fixed here: lua/ belongs to the registry restructuring):
  -- Auth:fetch_token puts the realm of the challenge into its transport-error
  -- message unscrubbed ("token service <realm>: ..."), so a realm carrying the
  -- password shows it. Pending until that message goes through redact.text.
  it("keeps the password echoed in a Bearer realm out of the error", function()
    local err = echo_in_realm()
    refute_contains(PASSWORD, err, "the error")
  end)
end)
