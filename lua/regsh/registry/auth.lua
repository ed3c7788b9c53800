-- regsh.registry.auth: what goes in the Authorization header of a registry
-- request. Learns the scheme from 401 challenges (Basic is sent only after a
-- Basic challenge), fetches Bearer tokens per scope (Basic credentials on a
-- GET to the realm, or an OAuth2 refresh-token POST for identity tokens and
-- ACR's null-GUID user), caches them and renews them before they expire.
local base64 = require "regsh.registry.base64"
local challenge = require "regsh.registry.challenge"
local credentials = require "regsh.registry.credentials"
local errors = require "regsh.errors"
local flight = require "regsh.registry.flight"
local json = require "regsh.json"
local redact = require "regsh.registry.redact"
local url = require "regsh.registry.url"

local M = {}

local Auth = {}
Auth.__index = Auth
Auth.__name = "regsh.registry.auth"

--- new{host, resolve = function() -> credential|nil, warnings, send = function(req)
--- -> res|nil,err,code (no auth added), log, now, plain_allowed (the registry is
--- loopback or insecure: an http:// realm is accepted)}
function M.new(cfg)
  return setmetatable({
    host = cfg.host,
    plain_allowed = cfg.plain_allowed == true,
    resolve_credentials = cfg.resolve,
    send = cfg.send,
    log = cfg.log or function() end,
    now = cfg.now or os.time,
    scheme = nil,          -- "basic" | "bearer" once a challenge said so
    bearer = nil,          -- {realm=, service=}
    tokens = {},           -- scope key -> {value = secret, expires_at, scopes}
    flights = {},          -- token requests in flight (flight.lua), one per scope
  }, Auth)
end

-- Credentials are looked up once, on first need: anonymous reads never run a helper.
function Auth:credential()
  if self.cred_loaded then return self.cred end
  self.cred_loaded = true
  local cred, warnings = self.resolve_credentials()
  for _, w in ipairs(warnings or {}) do self.log("warn", w) end
  self.cred = cred
  return cred
end

-- Secrets to scrub from any message this host's errors could carry.
function Auth:secrets()
  local out = {}
  local cred = self.cred
  if cred then
    out[#out + 1] = cred.password
    out[#out + 1] = cred.identity_token
    -- the Basic credential's pair: its base64 form is what a registry echoes
    local secret = redact.reveal(cred.password or cred.identity_token)
    if secret then out[#out + 1] = (cred.username or "") .. ":" .. secret end
  end
  for _, t in pairs(self.tokens) do out[#out + 1] = t.value end
  return out
end

local function scope_key(scopes)
  local copy = {}
  for i, s in ipairs(scopes) do copy[i] = s end
  table.sort(copy)
  return table.concat(copy, " ")
end

-- "repository:a/b:pull,push" -> "repository:a/b", {pull=true, push=true}
local function split_scope(scope)
  local resource, actions = scope:match("^(.*):([^:]*)$")
  if not resource then return scope, {} end
  local set = {}
  for a in actions:gmatch("[^,]+") do set[a] = true end
  return resource, set
end

-- Whether a token granted for `have` serves a request needing `want`.
local function covers(have, want)
  for _, w in ipairs(want) do
    local resource, actions = split_scope(w)
    local served = false
    for _, h in ipairs(have) do
      local hres, hact = split_scope(h)
      if hres == resource then
        served = true
        for a in pairs(actions) do
          if not (hact[a] or hact["*"]) then served = false end
        end
        if served then break end
      end
    end
    if not served then return false end
  end
  return true
end

local function fresh(self, token)
  return token and self.now() < token.renew_at
end

function Auth:cached_token(scopes)
  local exact = self.tokens[scope_key(scopes)]
  if fresh(self, exact) then return exact end
  for _, token in pairs(self.tokens) do
    if fresh(self, token) and covers(token.scopes, scopes) then return token end
  end
end

local function basic_header(cred)
  local password = redact.reveal(cred.password or cred.identity_token) or ""
  return "Basic " .. base64.encode(cred.username .. ":" .. password)
end

local function is_refresh_token(cred)
  return cred.identity_token ~= nil or cred.username == credentials.TOKEN_USERNAME
end

-- expires_in, or the JWT's own exp, or the spec's default of 60 seconds.
local function lifetime(self, answer, token)
  local seconds = tonumber(answer.expires_in)
  if seconds and seconds > 0 then return seconds end
  local payload = token:match("^[%w_-]+%.([%w_-]+)%.")
  if payload then
    local claims = json.decode(base64.decode(payload) or "")
    if type(claims) == "table" and tonumber(claims.exp) then
      return math.max(0, tonumber(claims.exp) - self.now())
    end
  end
  return 60
end

local function who(cred)
  if not cred then return "anonymous access" end
  if is_refresh_token(cred) then return "the refresh token from " .. cred.source end
  return string.format("user '%s' (from %s)", cred.username, cred.source)
end

function Auth:describe_credential()
  return who(self:credential())
end

-- The token endpoint's error, e.g. {"errors":[{"message":...}]} or {"error_description":...}.
local function token_error(self, res)
  local answer = json.decode(res.body or "")
  if type(answer) ~= "table" then return "" end
  local e = type(answer.errors) == "table" and answer.errors[1]
  local detail = (type(e) == "table" and (e.message or e.code)) or answer.error_description
    or answer.details or answer.error
  if type(detail) ~= "string" then return "" end
  return ": " .. redact.text(detail, self:secrets()):sub(1, 200)
end

-- A token-service failure, scrubbed and escaped whole: the realm and the
-- answer are the server's text and can echo the password or a token, or
-- carry escapes meant for a terminal.
local function token_fail(self, code, fmt, ...)
  return nil, redact.printable(redact.text(code .. ": " .. string.format(fmt, ...),
    self:secrets())), code
end

-- A realm gets credentials (Basic, a refresh token) and hands out tokens:
-- only https://, or http:// when the registry itself may be spoken to in
-- plain HTTP (loopback, or insecure). Checked before anything is sent.
local function check_realm(self, realm)
  local scheme = (realm:match("^(%a[%w+.-]*)://[^/]") or ""):lower()
  if scheme == "https" or (scheme == "http" and self.plain_allowed) then return true end
  return token_fail(self, "EAUTH", "%s: refusing the token service realm '%s': a realm must be "
    .. "https:// (http:// only for a loopback registry or with insecure = true / --insecure)",
    self.host, realm)
end

--- Fetch a Bearer token for scopes from the realm of the last challenge.
function Auth:fetch_token(scopes)
  local b = self.bearer
  local realm_ok, realm_err, realm_code = check_realm(self, b.realm)
  if not realm_ok then return nil, realm_err, realm_code end
  local cred = self:credential()
  local req
  if cred and is_refresh_token(cred) then
    local refresh = redact.reveal(cred.identity_token or cred.password)
    req = {method = "POST", url = b.realm,
           headers = {["Content-Type"] = "application/x-www-form-urlencoded"},
           body = url.query({{"grant_type", "refresh_token"}, {"service", b.service},
                             {"scope", table.concat(scopes, " ")}, {"client_id", "regsh"},
                             {"refresh_token", refresh}})}
  else
    local query = {{"service", b.service}}
    for _, s in ipairs(scopes) do query[#query + 1] = {"scope", s} end
    req = {method = "GET", url = url.add_query(b.realm, url.query(query)), headers = {}}
    if cred then req.headers.Authorization = basic_header(cred) end
  end
  local res, err, code = self.send(req)
  if not res then
    return token_fail(self, code, "token service %s: %s", b.realm, errors.detail(err))
  end
  if res.status == 401 or res.status == 403 then
    return token_fail(self, res.status == 401 and "EAUTH" or "EDENIED",
      "%s: the token service %s refused %s (HTTP %d)%s",
      self.host, b.realm, who(cred), res.status, token_error(self, res))
  end
  if res.status ~= 200 then
    return token_fail(self, "EHTTP", "%s: the token service %s answered HTTP %d%s",
      self.host, b.realm, res.status, token_error(self, res))
  end
  local answer = json.decode(res.body or "")
  local token = type(answer) == "table" and (answer.token or answer.access_token)
  if type(token) ~= "string" or token == "" then
    return token_fail(self, "EPROTO", "%s: the token service %s answered without a token",
      self.host, b.realm)
  end
  local seconds = lifetime(self, answer, token)
  local now = self.now()
  -- renew before expiry: a request must not start with a token about to lapse
  local entry = {value = redact.secret(token), scopes = scopes, expires_at = now + seconds,
                 renew_at = now + seconds - math.min(60, seconds / 5)}
  self.tokens[scope_key(scopes)] = entry
  self.log("debug", string.format("%s: got a token for %s, valid %ds", self.host,
    scope_key(scopes), seconds))
  return entry
end

--- The Authorization header for a request needing scopes, or nil (anonymous).
--- May fetch a token when the registry is known to want Bearer.
function Auth:header(scopes)
  if self.scheme == "basic" then
    local cred = self:credential()
    return cred and basic_header(cred) or nil
  end
  if self.scheme == "bearer" then
    local token = self:cached_token(scopes)
    if not token then
      -- one request per scope: tasks that need it meanwhile wait for its answer
      local err, code
      token, err, code = flight.run(self.flights, scope_key(scopes), function()
        local cached = self:cached_token(scopes)
        if cached then return cached end
        return self:fetch_token(scopes)
      end)
      if not token then return nil, err, code end
    end
    return "Bearer " .. token.value:reveal()
  end
end

--- Learn from the challenges of a 401 (or of the /v2/ ping). Returns the scheme.
function Auth:learn(challenges)
  local bearer = challenge.find(challenges, "bearer")
  if bearer and bearer.params.realm then
    self.scheme = "bearer"
    self.bearer = {realm = bearer.params.realm, service = bearer.params.service}
    return "bearer", bearer
  end
  if challenge.find(challenges, "basic") then
    self.scheme = "basic"
    return "basic"
  end
end

--- After a 401 for scopes: learn the challenge, drop a stale token and get a
--- new one. true when the request is worth sending again, else nil, err, code.
function Auth:on_unauthorized(res, scopes, values)
  local challenges = challenge.parse_all(values)
  local scheme, bearer = self:learn(challenges)
  if not scheme then
    return nil, string.format("EPROTO: %s answered 401 without a Basic or Bearer challenge",
      self.host), "EPROTO"
  end
  local cred = self:credential()
  if scheme == "basic" then
    if not cred then
      return nil, string.format("EAUTH: %s wants credentials and none were found "
        .. "(pass username/password, set REGSH_USERNAME/REGSH_PASSWORD or run 'regsh login %s')",
        self.host, self.host), "EAUTH"
    end
    return true
  end
  local wanted = {}
  for i, s in ipairs(scopes) do wanted[i] = s end
  -- the registry's own scope names what it checks (e.g. ACR's metadata_read)
  for s in (bearer.params.scope or ""):gmatch("%S+") do
    local known = false
    for _, w in ipairs(wanted) do if w == s then known = true end end
    if not known then wanted[#wanted + 1] = s end
  end
  local key = scope_key(scopes)
  local token, err, code = flight.run(self.flights, "challenge " .. key, function()
    self.tokens[key] = nil
    local fetched, fetch_err, fetch_code = self:fetch_token(wanted)
    if fetched then self.tokens[key] = fetched end
    return fetched, fetch_err, fetch_code
  end)
  if not token then return nil, err, code end
  return true
end

return M
