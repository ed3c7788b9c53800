-- tests/support/servers.lua: start and drive the Python test servers of
-- tests/support/ (token service, fault proxy, ACR fixture) and the test PKI,
-- on 127.0.0.1 with free ports. Every server gets --watch <this regsh pid>, so
-- it dies with the test process even if a spec aborts; specs still stop them
-- in teardown. Control calls use curl, not the client under test.
local cjson = require "cjson"
local registry = require "support.registry"

local M = {}
local q = registry.shell_quote

local function sh(line)
  local p = assert(io.popen(line, "r"))
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok, code
end
M.sh = sh

local function tmpdir(tag)
  return (sh("mktemp -d /tmp/regsh-" .. tag .. ".XXXXXX"):gsub("%s+$", ""))
end

--- Start `python3 tests/support/<script> <args>`; wait for its `port=N pid=P` line.
--- Returns {port, pid, host, url, dir, stderr (its stderr file)}.
function M.start_python(script, args)
  local dir = tmpdir(script:gsub("%.py$", ""):gsub("_", "-"))
  local out, err = dir .. "/out", dir .. "/err"
  local words = {"python3", q("tests/support/" .. script), "--watch", registry.pid()}
  for _, a in ipairs(args or {}) do words[#words + 1] = q(a) end
  local line = table.concat(words, " ")
  local pid = tonumber((sh("setsid " .. line .. " > " .. q(out) .. " 2> " .. q(err)
    .. " < /dev/null & echo $!")))
  assert(pid, "could not start " .. script)
  local res = sh("for i in $(seq 1 200); do grep -q '^port=' " .. q(out)
    .. " && break; kill -0 " .. pid .. " 2>/dev/null || break; sleep 0.05; done; cat "
    .. q(out) .. "; echo; cat " .. q(err))
  local port = res:match("port=(%d+)")
  if not port then
    sh("kill " .. pid .. " 2>/dev/null")
    error(script .. " did not start: " .. res)
  end
  return {port = tonumber(port), pid = pid, host = "127.0.0.1:" .. port,
          url = "http://127.0.0.1:" .. port, dir = dir, stderr = err}
end

--- Stop servers (and registries) in the order given; nil ones are skipped.
function M.stop_all(...)
  for i = 1, select("#", ...) do M.stop((select(i, ...))) end
end

--- Stop a server started by start_python (idempotent).
function M.stop(s)
  if not s or s.stopped then return end
  s.stopped = true
  -- a zombie counts as gone: it is not ours to reap (its parent shell has exited)
  local alive = "ps -o stat= -p " .. s.pid .. " | grep -qv '^Z'"
  sh("kill " .. s.pid .. " 2>/dev/null; for i in $(seq 1 100); do " .. alive
    .. " || break; sleep 0.05; done; " .. alive .. " && kill -9 " .. s.pid
    .. " 2>/dev/null; rm -rf " .. q(s.dir))
end

--- curl METHOD URL [body table|string] -> status, decoded JSON (or raw text)
function M.curl(method, url, body, headers)
  local words = {"curl -sS -m 30 -o - -w '\\n%{http_code}' -X", method}
  for _, h in ipairs(headers or {}) do words[#words + 1] = "-H " .. q(h) end
  if body ~= nil then
    if type(body) ~= "string" then body = cjson.encode(body) end
    words[#words + 1] = "--data-binary " .. q(body)
  end
  words[#words + 1] = q(url)
  local out = sh(table.concat(words, " ") .. " 2>&1")
  local text, status = out:match("^(.*)\n(%d%d%d)$")
  assert(status, "curl " .. method .. " " .. url .. " failed: " .. out)
  local ok, decoded = pcall(cjson.decode, text)
  return tonumber(status), ok and decoded or text
end

--------------------------------------------------------------------------------
-- test PKI (tests/support/tls.sh), kept in $REGSH_TEST_CACHE (default
-- /tmp/regsh-test-cache) and remade when a certificate is about to expire

local pki
--- {dir, ca, server_cert, server_key, token_cert, token_key}
function M.pki()
  if pki then return pki end
  local dir = (os.getenv("REGSH_TEST_CACHE") or "/tmp/regsh-test-cache") .. "/pki"
  local out, ok = sh("tests/support/tls.sh " .. q(dir) .. " 2>&1")
  assert(ok, "tls.sh failed: " .. out)
  pki = {dir = dir, ca = dir .. "/ca.pem", server_cert = dir .. "/server.pem",
         server_key = dir .. "/server.key", token_cert = dir .. "/token.pem",
         token_key = dir .. "/token.key"}
  return pki
end

--------------------------------------------------------------------------------
-- token service (tests/support/token_server.py)

local Token = {}
Token.__index = Token

--- opts: users = {name = "pass" | {"pass", "pull,push"}}, ttl, anonymous, issuer
function M.token_server(opts)
  opts = opts or {}
  local p = M.pki()
  local args = {"--key", p.token_key, "--cert", p.token_cert,
                "--issuer", opts.issuer or "regsh-test-issuer", "--ttl", tostring(opts.ttl or 300)}
  for name, v in pairs(opts.users or {}) do
    local pass, actions = v, nil
    if type(v) == "table" then pass, actions = v[1], v[2] end
    args[#args + 1] = "--user"
    args[#args + 1] = name .. ":" .. pass .. (actions and (":" .. actions) or "")
  end
  if opts.anonymous then
    args[#args + 1] = "--anonymous"
    args[#args + 1] = opts.anonymous
  end
  local s = setmetatable(M.start_python("token_server.py", args), Token)
  s.issuer = opts.issuer or "regsh-test-issuer"
  s.realm = s.url .. "/token"
  return s
end

--- The --token argument for support.registry.start.
function Token:registry_option(service)
  return table.concat({self.realm, service or "regsh-test", self.issuer, M.pki().token_cert}, ",")
end

function Token:stats()
  local status, body = M.curl("GET", self.url .. "/stats")
  assert(status == 200, "token server stats: " .. tostring(status))
  return body
end

function Token:reset()
  M.curl("POST", self.url .. "/stats/reset", "")
end

--------------------------------------------------------------------------------
-- fault proxy (tests/support/fault_proxy.py)

-- a server's request log, optionally only entries whose path matches a Lua pattern
local function request_log(url, pattern)
  local _, body = M.curl("GET", url)
  if not pattern then return body end
  local out = {}
  for _, e in ipairs(body) do
    if e.path:find(pattern) then out[#out + 1] = e end
  end
  return out
end

local Proxy = {}
Proxy.__index = Proxy

function M.fault_proxy(upstream_url)
  return setmetatable(M.start_python("fault_proxy.py", {"--upstream", upstream_url}), Proxy)
end

--- A real registry (support.registry.start opts) with a fault proxy in front: reg, proxy.
function M.proxied_registry(opts)
  local reg = registry.start(opts)
  return reg, M.fault_proxy(reg.url)
end

--- Add a rule (or a list of rules); see fault_proxy.py's header. Returns ids.
function Proxy:add(rule)
  local status, body = M.curl("POST", self.url .. "/_fault/rules", rule)
  assert(status == 200, "fault proxy rule refused: " .. cjson.encode(body))
  return body.ids
end

--- Emulate n/last tag-list pagination (distribution 2.8 answers every tag at
--- once) with Link headers of `form` ("relative" | "absolute"); nil turns it off.
function Proxy:paginate(form, max)
  if form == nil then
    M.curl("DELETE", self.url .. "/_fault/paginate")
    return
  end
  local status, body = M.curl("POST", self.url .. "/_fault/paginate", {form = form, max = max})
  assert(status == 200, "fault proxy paginate refused: " .. cjson.encode(body))
end

--- Remove every fault rule and clear the log (pagination emulation stays).
function Proxy:clear()
  M.curl("DELETE", self.url .. "/_fault/rules")
  M.curl("DELETE", self.url .. "/_fault/log")
end

function Proxy:rules()
  local _, body = M.curl("GET", self.url .. "/_fault/rules")
  return body
end

--- The request log, optionally only entries whose path matches a Lua pattern.
function Proxy:log(pattern)
  return request_log(self.url .. "/_fault/log", pattern)
end

--------------------------------------------------------------------------------
-- ACR fixture (tests/support/acr_fixture.py): a fixture, not ACR

local Acr = {}
Acr.__index = Acr

M.NULL_GUID = "00000000-0000-0000-0000-000000000000"

--- opts: refresh_token, aad_token, user ("name:pass"), ttl
function M.acr_fixture(opts)
  opts = opts or {}
  local args = {"--refresh-token", opts.refresh_token or "regsh-fixture-refresh-token",
                "--aad-token", opts.aad_token or "regsh-fixture-aad-token",
                "--ttl", tostring(opts.ttl or 3600)}
  if opts.user then
    args[#args + 1] = "--user"
    args[#args + 1] = opts.user
  end
  local s = setmetatable(M.start_python("acr_fixture.py", args), Acr)
  s.refresh_token = opts.refresh_token or "regsh-fixture-refresh-token"
  s.aad_token = opts.aad_token or "regsh-fixture-aad-token"
  return s
end

function Acr:seed(spec)
  local status, body = M.curl("POST", self.url .. "/_fixture/seed", spec)
  assert(status == 200, "fixture seed: " .. cjson.encode(body))
  return body.seeded
end

function Acr:stats()
  local _, body = M.curl("GET", self.url .. "/_fixture/stats")
  return body
end

function Acr:reset_stats()
  M.curl("POST", self.url .. "/_fixture/reset-stats", "")
end

--- Raw server-side state of a repository: {tags = {name = tag}, manifests = {digest = m}}
function Acr:repo(name)
  local status, body = M.curl("GET", self.url .. "/_fixture/repo/" .. name)
  if status ~= 200 then return nil end
  return body
end

function Acr:log(pattern)
  return request_log(self.url .. "/_fixture/log", pattern)
end

return M
