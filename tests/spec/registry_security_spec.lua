-- The registry client's security guarantees ("registry client hardening"):
-- token realms get credentials only over HTTPS, credentials go only to the
-- host they were given for (regsh cp), secrets are masked in every form,
-- loopback is decided by parsing the address, names from the server are
-- untrusted, and Link pages stay on the registry's origin. Scripted HTTP
-- stand-ins for the wire cases, real registries and the CLI for the rest.
local registry = require "regsh.registry"
local base64 = require "regsh.registry.base64"
local json = require "regsh.json"
local redact = require "regsh.registry.redact"
local ref = require "regsh.registry.ref"
local stand_in = require "support.stand_in"
local cmd = require "support.cmd"
local content = require "support.content"
local regs = require "support.registry"
local servers = require "support.servers"

local response = stand_in.response
local HOST = "registry.test"
local BASE = "https://" .. HOST
local DIGEST = "sha256:" .. string.rep("d", 64)

-- A client whose requests go to a stand-in; returns reg, requests, log sink.
local function client(routes, opts)
  local sink = content.log_sink()
  local o, host = {log = sink.fn}, HOST
  for k, v in pairs(opts or {}) do
    if k == "host" then host = v else o[k] = v end
  end
  local reg = assert(registry.open(host, o))
  local fake, requests = stand_in.new(routes)
  reg.transport.http = fake
  reg.transport.policy.sleep = function() end
  return reg, requests, sink
end

local function sent_to(requests, pattern)
  local n = 0
  for _, r in ipairs(requests) do
    if r.url:find(pattern) then n = n + 1 end
  end
  return n
end

local function challenge(realm)
  return {{401, {["WWW-Authenticate"] = 'Bearer realm="' .. realm .. '",service="registry.test"'}}}
end

local function head_ok(req)
  if not (req.headers.Authorization or ""):match("^Bearer ") then return response(401, {}) end
  return response(200, {["Docker-Content-Digest"] = DIGEST})
end

describe("item 1: token realms get credentials only over HTTPS", function()
  it("refuses an http:// realm on another host with EAUTH naming it, sending nothing", function()
    local reg, requests = client({["GET " .. BASE .. "/v2/"] = challenge("http://auth.test/token"),
      ["HEAD " .. BASE .. "/v2/app/manifests/v1"] = head_ok},
      {username = "bob", password = "bob-secret-pw"})
    local res, err, code = reg:head("app", "v1")
    assert.is_nil(res)
    assert.equal("EAUTH", code, err)
    assert.matches("http://auth.test/token", err, 1, true)
    assert.equal(0, sent_to(requests, "^http://auth%.test"), "a request went to the http realm")
  end)

  it("does not POST an ACR refresh token to an http:// realm", function()
    local reg, requests = client({
      ["GET " .. BASE .. "/v2/"] = challenge("http://registry.test/oauth2/token"),
      ["HEAD " .. BASE .. "/v2/app/manifests/v1"] = head_ok},
      {username = "00000000-0000-0000-0000-000000000000", password = "refresh-token-xyz"})
    local _, err, code = reg:head("app", "v1")
    assert.equal("EAUTH", code, err)
    assert.matches("http://registry.test/oauth2/token", err, 1, true)
    assert.equal(0, sent_to(requests, "oauth2"))
  end)

  it("refuses a realm with another scheme or none", function()
    for _, realm in ipairs({"ftp://auth.test/token", "/token", "auth.test/token"}) do
      local reg, requests = client({["GET " .. BASE .. "/v2/"] = challenge(realm),
        ["HEAD " .. BASE .. "/v2/app/manifests/v1"] = head_ok})
      local _, err, code = reg:head("app", "v1")
      assert.equal("EAUTH", code, err)
      assert.matches(realm, err, 1, true)
      assert.equal(#requests, sent_to(requests, "^" .. BASE:gsub("%p", "%%%0") .. "/v2/"), realm)
    end
  end)

  local function token_route(req)
    return response(200, {}, json.encode({token = "tok", expires_in = 300, url = req.url}))
  end

  it("allows an http:// realm with insecure = true", function()
    local reg, requests = client({["GET " .. BASE .. "/v2/"] = challenge("http://auth.test/token"),
      ["HEAD " .. BASE .. "/v2/app/manifests/v1"] = head_ok,
      ["GET http://auth.test/token?service=registry.test&scope=repository%3Aapp%3Apull"] =
        token_route},
      {username = "bob", password = "bob-secret-pw", insecure = true})
    assert.equal(DIGEST, assert(reg:head("app", "v1")).digest)
    assert.equal(1, sent_to(requests, "^http://auth%.test"))
  end)

  it("allows an http:// realm for a loopback registry", function()
    local base = "http://127.0.0.1:5999"
    local reg, requests = client({
      ["GET https://127.0.0.1:5999/v2/"] = {{fail = "ETLS: wrong version number"}},
      ["GET " .. base .. "/v2/"] = challenge("http://127.0.0.1:6000/token"),
      ["HEAD " .. base .. "/v2/app/manifests/v1"] = head_ok,
      ["GET http://127.0.0.1:6000/token?service=registry.test&scope=repository%3Aapp%3Apull"] =
        token_route},
      {host = "127.0.0.1:5999", username = "bob", password = "bob-secret-pw"})
    assert.equal(DIGEST, assert(reg:head("app", "v1")).digest)
    assert.equal(1, sent_to(requests, "^http://127%.0%.0%.1:6000/token"))
  end)
end)

describe("item 1, end to end: a verified HTTPS registry with an http:// realm elsewhere", function()
  -- names that are not loopback, given to 127.0.0.1 in a private /etc/hosts
  -- seen only by the regsh command (unshare -m, as root)
  local ts, reg, hosts, pki
  local REALM_HOST = "auth.regsh.test"

  setup(function()
    pki = servers.pki()
    ts = servers.token_server{users = {alice = "alice-pw-1"}}
    local realm = "http://" .. REALM_HOST .. ":" .. ts.port .. "/token"
    reg = regs.start{tls = pki.server_cert .. "," .. pki.server_key,
      token = table.concat({realm, "regsh-security", ts.issuer, pki.token_cert}, ",")}
    hosts = cmd.temp_file("127.0.0.1 localhost\n127.0.0.1 registry.regsh.test " .. REALM_HOST
      .. "\n")
  end)

  teardown(function()
    regs.stop(reg)
    servers.stop(ts)
    if hosts then os.remove(hosts) end
  end)

  local function catalog(extra)
    local words = {cmd.quote(cmd.bin), "catalog", "registry.regsh.test:" .. reg.port,
      "--ca-file", cmd.quote(pki.ca), "-u", "alice", "-p", "alice-pw-1", extra}
    local inner = "mount --bind " .. cmd.quote(hosts) .. " /etc/hosts && exec "
      .. table.concat(words, " ")
    return cmd.sh("REGSH_USERNAME= unshare -m sh -c " .. cmd.quote(inner))
  end

  it("sends the password to no http:// realm and fails EAUTH naming it", function()
    ts:reset()
    local _, status, err = catalog("")
    assert.equal(1, status, err)
    assert.matches("EAUTH", err, 1, true)
    assert.matches("http://" .. REALM_HOST .. ":" .. ts.port .. "/token", err, 1, true)
    local stats = ts:stats()
    -- the one request it counted is this /stats call
    assert.equal(1, stats.requests, "the token service was asked")
    assert.same({}, stats.users)
  end)

  it("uses the http:// realm when --insecure says so (the control)", function()
    ts:reset()
    local _, status, err = catalog("--insecure")
    assert.equal(0, status, err)
    assert.is_true(ts:stats().tokens >= 1)
  end)
end)

describe("item 2: regsh cp gives each registry only its own credentials", function()
  local src, dst, proxy, home
  local env

  setup(function()
    src = regs.start{htpasswd = {alice = "alice-pass-1"}}
    dst = regs.start{htpasswd = {bob = "bob-pass-22"}}
    proxy = servers.fault_proxy(src.url)  -- logs who each request to the source came as
    local r = registry.open(src.host, {username = "alice", password = "alice-pass-1"})
    assert(content.push_image(r, "app", "v1"))
    home = (servers.sh("mktemp -d /tmp/regsh-sec.XXXXXX"):gsub("%s+$", ""))
    env = {DOCKER_CONFIG = home .. "/docker", REGISTRY_AUTH_FILE = home .. "/none.json",
           REGSH_USERNAME = "", REGSH_PASSWORD = "", REGSH_REGISTRY = ""}
  end)

  teardown(function()
    servers.stop(proxy)
    regs.stop(src)
    regs.stop(dst)
    if home then os.execute("rm -rf " .. cmd.quote(home)) end
  end)

  local function with(extra)
    local e = {}
    for k, v in pairs(env) do e[k] = v end
    for k, v in pairs(extra or {}) do e[k] = v end
    return e
  end

  local function users_seen()
    local seen = {}
    for _, e in ipairs(proxy:log()) do
      if type(e.user) == "string" then seen[e.user] = true end
    end
    return seen
  end

  before_each(function() proxy:clear() end)

  it("copies with --src-creds and --dest-creds, each sent only to its host", function()
    local out, status, err = cmd.regsh({"cp", proxy.host .. "/app:v1", dst.host .. "/app:v1",
      "--src-creds", "alice:alice-pass-1", "--dest-creds", "bob:bob-pass-22"}, nil, with())
    assert.equal(0, status, err)
    assert.matches("^sha256:", out)
    assert.same({alice = true}, users_seen())
  end)

  it("refuses -u/-p for two registries (usage) before sending anything", function()
    local _, status, err = cmd.regsh({"cp", proxy.host .. "/app:v1", dst.host .. "/app:v2",
      "-u", "bob", "-p", "bob-pass-22"}, nil, with())
    assert.equal(2, status, err)
    assert.matches("--src-creds", err, 1, true)
    assert.equal(0, #proxy:log())
  end)

  it("gives REGSH_USERNAME/REGSH_PASSWORD to the destination only", function()
    local _, status, err = cmd.regsh({"cp", proxy.host .. "/app:v1", dst.host .. "/app:v3",
      "--src-creds", "alice:alice-pass-1"}, nil,
      with({REGSH_USERNAME = "bob", REGSH_PASSWORD = "bob-pass-22"}))
    assert.equal(0, status, err)
    assert.same({alice = true}, users_seen())
    -- without source credentials the source is asked anonymously: bob's never go there
    proxy:clear()
    _, status, err = cmd.regsh({"cp", proxy.host .. "/app:v1", dst.host .. "/app:v4"}, nil,
      with({REGSH_USERNAME = "bob", REGSH_PASSWORD = "bob-pass-22"}))
    assert.equal(1, status)
    assert.matches("EAUTH", err, 1, true)
    assert.same({}, users_seen())
  end)

  it("gives REGSH_USERNAME/REGSH_PASSWORD only to the host REGSH_REGISTRY names", function()
    local _, status, err = cmd.regsh({"cp", proxy.host .. "/app:v1", dst.host .. "/app:v5",
      "--dest-creds", "bob:bob-pass-22"}, nil,
      with({REGSH_USERNAME = "alice", REGSH_PASSWORD = "alice-pass-1", REGSH_REGISTRY = proxy.host}))
    assert.equal(0, status, err)
    assert.same({alice = true}, users_seen())
    -- a catalog of another host does not get them
    _, status, err = cmd.regsh({"catalog", dst.host}, nil,
      with({REGSH_USERNAME = "bob", REGSH_PASSWORD = "bob-pass-22", REGSH_REGISTRY = proxy.host}))
    assert.equal(1, status)
    assert.matches("EAUTH", err, 1, true)
  end)

  it("refuses shared credentials for two hosts in registry.copy", function()
    local ok, err = pcall(registry.copy, proxy.host .. "/app:v1", dst.host .. "/app:v6",
      {username = "bob", password = "bob-pass-22"})
    assert.is_false(ok)
    assert.matches("source", tostring(err), 1, true)
    assert.equal(0, #proxy:log())
  end)
end)

describe("item 4: secrets are masked in every form and at every length", function()
  it("masks the base64 user:password a registry echoes without 'Basic '", function()
    local echoed = base64.encode("bob:hunter2-password")
    local reg = client({["GET " .. BASE .. "/v2/"] = {{401, {["WWW-Authenticate"] = 'Basic realm="r"'}}},
      ["GET " .. BASE .. "/v2/app/tags/list"] = {{403, {["Content-Type"] = "application/json"},
        '{"errors":[{"code":"DENIED","message":"credential ' .. echoed .. ' has no access"}]}'}}},
      {username = "bob", password = "hunter2-password"})
    local _, err, code = reg:tags("app")
    assert.equal("EDENIED", code, err)
    assert.is_nil(err:find(echoed, 1, true), err)
    assert.matches("has no access", err, 1, true)
  end)

  it("masks a short password in credential positions and its encoded forms", function()
    local pw = redact.secret("pw")
    local pair = redact.secret("bob:pw")
    local text = redact.text('password "pw" for bob:pw, auth ' .. base64.encode("bob:pw")
      .. ' url https://bob:pw@host/x, form password=pw&x=1', {pw, pair})
    assert.is_nil(text:find('"pw"', 1, true), text)
    assert.is_nil(text:find("bob:pw", 1, true), text)
    assert.is_nil(text:find(base64.encode("bob:pw"), 1, true), text)
    assert.is_nil(text:find("=pw", 1, true), text)
    -- ordinary words are left alone
    assert.matches("password ", text, 1, true)
    local one = redact.text("a password was refused", {redact.secret("a")})
    assert.equal("a password was refused", one)
  end)

  it("masks a URL password containing '@' up to the host", function()
    local text = redact.text("GET https://bob:p@ss@w0rd@registry.test/v2/ failed")
    assert.is_nil(text:find("ss", 1, true), text)
    assert.is_nil(text:find("w0rd", 1, true), text)
    assert.matches("@registry.test/v2/", text, 1, true)
  end)

  it("masks the percent-encoded and base64 forms of a registered secret", function()
    local s = redact.secret("p@ss word/1")
    local text = redact.text("form refresh=p%40ss%20word%2F1 b64 " .. base64.encode("p@ss word/1"),
      {s})
    assert.is_nil(text:find("p%40ss", 1, true), text)
    assert.is_nil(text:find(base64.encode("p@ss word/1"), 1, true), text)
  end)
end)

describe("item 5: loopback means a loopback address", function()
  it("parses 127.0.0.0/8, ::1 and localhost exactly as inet_pton would", function()
    for _, h in ipairs({"127.0.0.1:5000", "127.1.2.3", "127.0.0.0", "127.255.255.255",
                        "localhost", "LOCALHOST:80", "[::1]:5000", "::1", "[0:0:0:0:0:0:0:1]",
                        "[0000:0000::0001]:443", "[::01]", "[::ffff:127.0.0.1]:5000"}) do
      assert.is_true(ref.is_loopback(h), h)
    end
    for _, h in ipairs({"127.08.0.1", "127.08.0.1:5000", "127.0.0.01", "0127.0.0.1", "127.1",
                        "127.0.0.256", "127.000.0.1", "127.0.0.1.", "app.localhost:1",
                        "localhost.", "[::127.0.0.1]", "[::2]", "[::00001]", "[1::1]",
                        "[::ffff:128.0.0.1]", "[::1::]", "128.0.0.1", "127.0.0.1.nip.io",
                        "example.com", "[::1", "::1:5000"}) do
      assert.is_false(ref.is_loopback(h), h)
    end
  end)

  it("agrees with the C library's inet_pton on every dotted form tried", function()
    local forms = {"127.0.0.1", "127.08.0.1", "127.8.0.1", "127.0.0.01", "0127.0.0.1",
                   "127.1", "127.0.0.256", "127.000.0.1", "127.0.0.1 ", "127.0.0.0",
                   "127.+1.0.1", "127.0x1.0.1", "127..0.1"}
    local script = "import socket,sys\nfor s in sys.argv[1:]:\n  try:\n"
      .. "    b=socket.inet_pton(socket.AF_INET,s); print(1 if b[0]==127 else 0)\n"
      .. "  except OSError: print(0)\n"
    local args = {}
    for i, f in ipairs(forms) do args[i] = cmd.quote(f) end
    local out = cmd.sh("python3 -c " .. cmd.quote(script) .. " " .. table.concat(args, " "))
    local i = 0
    for line in out:gmatch("[^\n]+") do
      i = i + 1
      assert.equal(line == "1", ref.is_loopback(forms[i]), forms[i])
    end
    assert.equal(#forms, i)
  end)

  it("does not speak plain HTTP to 127.08.0.1", function()
    local _, err, code = registry.open("http://127.08.0.1:5000")
    assert.equal("EREF", code, err)
    local reg, requests = client({
      ["GET https://127.08.0.1:5999/v2/"] = {{fail = "ETLS: wrong version number"}},
      ["GET http://127.08.0.1:5999/v2/"] = {{200, {}, "{}"}}}, {host = "127.08.0.1:5999"})
    local ok
    ok, err, code = reg:ping()
    assert.is_nil(ok)
    assert.equal("ETLS", code, err)
    assert.equal(0, sent_to(requests, "^http://"))
  end)
end)

describe("item 6: names from the server are untrusted", function()
  local hostile = '{"name":"app","tags":["v1","\\u001b]52;c;ZXZpbA==\\u0007","a\\nb",'
    .. '"bad\255x","\\u009b31m","v2"]}'
  local catalog = '{"repositories":["good/one","\\u001b[2J","Upper","ok\\u0000","two"]}'

  it("skips tags and repositories that break the grammar, with one counted warning", function()
    local reg, _, sink = client({["GET " .. BASE .. "/v2/"] = {{200, {}, "{}"}},
      ["GET " .. BASE .. "/v2/app/tags/list"] = {{200, {}, hostile}},
      ["GET " .. BASE .. "/v2/_catalog"] = {{200, {}, catalog}}})
    local tags = assert(reg:tags("app"))
    assert.same({{name = "v1"}, {name = "v2"}}, tags)
    local warnings = {}
    for _, line in ipairs(sink.lines) do
      if line:match("^warn ") then warnings[#warnings + 1] = line end
    end
    assert.equal(1, #warnings, sink.text())
    assert.matches("4 tag names", warnings[1], 1, true)
    assert.is_nil(warnings[1]:find("[%c\128-\255]"), "raw server text in: " .. warnings[1])
    assert.same({"good/one", "two"}, assert(reg:repositories()))
    local seen = {}
    for name in reg:each_tag("app") do seen[#seen + 1] = name.name end
    assert.same({"v1", "v2"}, seen)
    assert.matches("3 repository names", sink.text(), 1, true)
  end)

  it("escapes control characters of a registry's error message", function()
    local reg = client({["GET " .. BASE .. "/v2/"] = {{200, {}, "{}"}},
      ["GET " .. BASE .. "/v2/app/tags/list"] = {{500, {["Content-Type"] = "application/json"},
        '{"errors":[{"code":"X\\u001b[31m","message":"boom\\u001b]52;c;ZXZpbA==\\u0007\\nfake"}]}'}}},
      {retries = 0})
    local _, err, code = reg:tags("app")
    assert.equal("EHTTP", code, err)
    assert.is_nil(err:find("%c"), "control characters in: " .. err)
    assert.matches("boom", err, 1, true)
  end)

  describe("through the CLI", function()
    local reg, proxy
    setup(function()
      reg = regs.start()
      proxy = servers.fault_proxy(reg.url)
    end)
    teardown(function()
      servers.stop(proxy)
      regs.stop(reg)
    end)

    local function hostile_answer(match, body, status, content_type)
      proxy:clear()
      proxy:add({match = match, action = "status", times = -1, status = status or 200,
                 content_type = content_type or "application/json",
                 body_base64 = base64.encode(body)})
    end

    it("prints valid names only, as text and as valid UTF-8 JSON", function()
      hostile_answer("/tags/list", hostile)
      local out, status, err = cmd.regsh({"ls", proxy.host .. "/app"})
      assert.equal(0, status, err)
      assert.equal("v1\nv2\n", out)
      assert.matches("warning", err, 1, true)
      assert.is_nil(err:find("\27", 1, true))
      out, status = cmd.regsh({"ls", "-o", "json", proxy.host .. "/app"})
      assert.equal(0, status)
      assert.same({{name = "v1"}, {name = "v2"}}, json.decode(out))
      assert.truthy(utf8.len(out))
    end)

    it("escapes control characters and invalid UTF-8 in error messages", function()
      hostile_answer("/tags/list", '{"errors":[{"code":"DENIED","message":"no\\u001b]52;c;'
        .. 'ZXZpbA==\\u0007 \255 way"}]}', 404)
      local _, status, err = cmd.regsh({"ls", proxy.host .. "/app"})
      assert.equal(1, status)
      assert.matches("ENOTFOUND", err, 1, true)
      assert.is_nil(err:sub(1, -2):find("[%c]"), "control characters in: " .. err)
      assert.truthy(utf8.len(err), "invalid UTF-8 in: " .. err)
    end)

    it("writes valid UTF-8 JSON whatever the server's strings", function()
      -- a manifest annotation with invalid UTF-8 (cjson passes the bytes through)
      local m = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        .. '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,'
        .. '"digest":"sha256:' .. string.rep("a", 64) .. '"},"layers":[],'
        .. '"annotations":{"x":"bad \255 \\u001b[2J"}}'
      hostile_answer("/manifests/v1", m, 200, "application/vnd.oci.image.manifest.v1+json")
      local out, status, err = cmd.regsh({"manifest", "-o", "json", proxy.host .. "/app:v1"})
      assert.equal(0, status, err)
      assert.truthy(utf8.len(out), "invalid UTF-8 in the JSON output")
      assert.is_table(json.decode(out))
    end)
  end)
end)

describe("item 12: Link pages stay on the registry's origin", function()
  local function pages(link)
    return {["GET " .. BASE .. "/v2/"] = {{200, {}, "{}"}},
      ["GET " .. BASE .. "/v2/app/tags/list?n=2"] = {{200, {Link = "<" .. link .. '>; rel="next"'},
        '{"tags":["a","b"]}'}},
      ["GET " .. link] = {{200, {}, '{"tags":["c"]}'}}}
  end

  it("refuses a Link to another scheme or host with EPROTO, fetching nothing there", function()
    for _, link in ipairs({"http://registry.test/v2/app/tags/list?last=b&n=2",
                           "https://evil.test/v2/app/tags/list?last=b&n=2",
                           "//evil.test/v2/app/tags/list?last=b&n=2",
                           "https://registry.test:444/v2/app/tags/list?last=b&n=2"}) do
      local reg, requests = client(pages(link), {page_size = 2})
      local res, err, code = reg:tags("app")
      assert.is_nil(res, link)
      assert.equal("EPROTO", code, err)
      assert.equal(2, #requests, link)
    end
  end)

  it("still follows same-origin Links, absolute or relative", function()
    local reg = client(pages(BASE .. "/v2/app/tags/list?last=b&n=2"), {page_size = 2})
    assert.equal(3, #assert(reg:tags("app")))
  end)
end)
