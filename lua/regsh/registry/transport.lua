-- regsh.registry.transport: every request a registry client makes goes
-- through here (writes only past the layer's dry-run gate): the scheme (https
-- first, plain HTTP only for loopback or `insecure`), the Authorization header,
-- one retry after a 401 challenge, backoff retries on 429/5xx and dropped
-- connections, the concurrency limit, and errors with codes and no secrets.
local flight = require "regsh.registry.flight"
local json = require "regsh.json"
local redact = require "regsh.registry.redact"
local url = require "regsh.registry.url"

local M = {}

local Transport = {}
Transport.__index = Transport
Transport.__name = "regsh.registry.transport"

--- new{host, api_host, scheme, plain_allowed, insecure, ca_file, ca_dir,
--- connect_timeout, stall_timeout, deadline (seconds, see send), user_agent,
--- policy (retry), limiter, auth, log_fn, http, clock (monotonic seconds)}
function M.new(cfg)
  local t = setmetatable({}, Transport)
  for k, v in pairs(cfg) do t[k] = v end
  t.http = t.http or require "regsh.http"
  t.clock = t.clock or require("regsh.core.loop").monotonic
  t.flights = {}
  return t
end

--- Log through the client's log function, scrubbed.
function Transport:log(level, message)
  if self.log_fn then
    self.log_fn(level, redact.text(message, self.auth and self.auth:secrets()))
  end
end

--- A fail triple with a scrubbed message: nil, "CODE: text", "CODE". Text
--- may quote the server: control characters and stray bytes are escaped.
function Transport:fail(code, text)
  return nil, redact.printable(redact.text(code .. ": " .. text,
    self.auth and self.auth:secrets())), code
end

-- The fail of a request the deadline stopped: ETIMEDOUT naming the deadline.
local function past_deadline(self, request, what, attempt, detail)
  return self:fail("ETIMEDOUT", string.format("%s %s: the deadline of %gs passed%s (%d attempt%s)",
    request.method, what or request.url, self.deadline, detail or "", attempt,
    attempt == 1 and "" or "s"))
end

--- One exchange without auth: TLS options, timeouts, concurrency limit, and
--- retries on transport errors and retryable statuses. A retryable status
--- that outlasts the retries comes back as the response (res.attempts says how many).
--- A request fails when it cannot connect within connect_timeout or receives
--- nothing for stall_timeout, however long the whole transfer takes; with a
--- deadline, the exchange with its retries and waits ends after that many
--- seconds (ETIMEDOUT), and no retry starts that could not finish in time.
function Transport:send(req, what)
  local request = {
    method = req.method or "GET", url = req.url, headers = req.headers, body = req.body,
    connect_timeout = self.connect_timeout, stall_timeout = self.stall_timeout,
    timeout = 0, insecure = self.insecure or nil,
    ca_file = self.ca_file, ca_dir = self.ca_dir, user_agent = self.user_agent, output = req.output,
    max_body = req.max_body, follow = false, on_data = req.on_data,
  }
  local ends = self.deadline and self.clock() + self.deadline
  local attempt = 0
  while true do
    attempt = attempt + 1
    if ends then
      local left = ends - self.clock()
      if left <= 0 then return past_deadline(self, request, what, attempt - 1) end
      request.timeout = math.max(left, 0.001)  -- 0 would be no limit at all
    end
    -- a body streamed to on_data starts again with each attempt
    if req.on_attempt then req.on_attempt() end
    local res, err, code = self.limiter:run(self.http.request, request)
    local delay
    if res then
      res.attempts = attempt
      self:log("debug", string.format("%s %s -> %d (%.3fs)", request.method, request.url,
        res.status, res.time or 0))
      if not (self.policy:retryable(res.status) and self.policy:allows(attempt)) then
        return res
      end
      delay = self.policy:delay(attempt, res.headers["retry-after"])
      -- no time left for another attempt: the last answer is the answer
      if ends and self.clock() + delay >= ends then return res end
      self:log("warn", string.format("%s %s: HTTP %d, retrying in %.1fs (attempt %d of %d)",
        request.method, what or request.url, res.status, delay, attempt + 1,
        self.policy.retries + 1))
    else
      code = code or "EHTTP"
      self:log("debug", string.format("%s %s -> %s", request.method, request.url, tostring(err)))
      local detail = tostring(err):gsub("^[%u%d]+: ", "")
      if code == "ETIMEDOUT" and ends and self.clock() >= ends - 0.05 then
        return past_deadline(self, request, what, attempt, ": " .. detail)
      end
      if not (self.policy:retryable(code) and self.policy:allows(attempt)) then
        if attempt > 1 then detail = detail .. string.format(" (after %d attempts)", attempt) end
        return self:fail(code,
          string.format("%s %s: %s", request.method, what or request.url, detail))
      end
      delay = self.policy:delay(attempt)
      if ends and self.clock() + delay >= ends then
        return past_deadline(self, request, what, attempt, ": " .. detail)
      end
      self:log("warn", string.format("%s %s: %s, retrying in %.1fs (attempt %d of %d)",
        request.method, what or request.url, code, delay, attempt + 1, self.policy.retries + 1))
    end
    if delay > 0 then self.policy.sleep(delay) end
  end
end

--- The registry's error, for messages: "MANIFEST_UNKNOWN: manifest unknown",
--- "an HTML page", or the start of the body.
function Transport:registry_error(res)
  local body = res.body or ""
  if body == "" then return "" end
  local ctype = (res.headers["content-type"] or ""):lower()
  if ctype:find("html", 1, true) or body:match("^%s*<") then return "an HTML page" end
  local answer = json.decode(body)
  if type(answer) == "table" and type(answer.errors) == "table" then
    local parts = {}
    for i, e in ipairs(answer.errors) do
      if i > 3 then break end
      if type(e) == "table" then
        parts[#parts + 1] = tostring(e.code or "?") .. ": " .. tostring(e.message or "")
      end
    end
    if #parts > 0 then return table.concat(parts, "; ") end
  end
  -- scrub before cutting: a secret cut in two at the edge would no longer be
  -- recognised, and its first part would be shown
  local text = redact.text(body, self.auth and self.auth:secrets())
  return (text:sub(1, 120):gsub("%s+", " "))
end

local function status_detail(self, res)
  local e = self:registry_error(res)
  local detail = "HTTP " .. res.status .. (e ~= "" and (", " .. e) or "")
  if (res.attempts or 1) > 1 then
    detail = detail .. string.format(", after %d attempts", res.attempts)
  end
  return detail
end

--- The fail triple for an unexpected status of a request about `what`:
--- 404 ENOTFOUND, 405 ENOTSUP, 413 ETOOBIG, else EHTTP.
function Transport:status_error(res, what, action)
  local detail = status_detail(self, res)
  local verb = action and (action .. " ") or ""
  if res.status == 404 then
    return self:fail("ENOTFOUND", string.format("%s%s: not found (%s)", verb, what, detail))
  end
  if res.status == 405 then
    return self:fail("ENOTSUP",
      string.format("%s%s: not supported by %s (%s)", verb, what, self.host, detail))
  end
  if res.status == 413 then
    return self:fail("ETOOBIG", string.format("%s%s: too large (%s)", verb, what, detail))
  end
  return self:fail("EHTTP", string.format("%s%s: unexpected answer (%s)", verb, what, detail))
end

--- Decode a JSON object body; EPROTO naming `what` when it is HTML or garbage.
function Transport:decode_json(res, what)
  local body = res.body or ""
  local ctype = (res.headers["content-type"] or ""):lower()
  if ctype:find("html", 1, true) or body:match("^%s*<") then
    return self:fail("EPROTO", string.format("%s: the registry answered HTML, not JSON (HTTP %d)",
      what, res.status))
  end
  local value, err = json.decode(body)
  if value == nil then
    return self:fail("EPROTO", string.format("%s: the registry answered invalid JSON (%s)", what,
      tostring(err):gsub("^EJSON: ", "")))
  end
  if type(value) ~= "table" then
    return self:fail("EPROTO", what .. ": the registry answered JSON that is not an object")
  end
  return value
end

-- /v2/ on one base URL: learns the auth scheme; a non-registry answer fails.
function Transport:ping_base(base)
  local res, err, code = self:send({method = "GET", url = base .. "/v2/", max_body = 1024 * 1024},
    self.host)
  if not res then return nil, err, code end
  if res.status == 401 then
    self.auth:learn(require("regsh.registry.challenge").parse_all(
      self.http.header_values(res, "www-authenticate")))
  elseif res.status ~= 200 then
    return self:fail("EPROTO", string.format("%s does not answer /v2/ like a registry (%s)",
      self.host, status_detail(self, res)))
  end
  return res
end

--- The base URL ("https://host:port"), settled by a GET /v2/ on first use:
--- https first; plain HTTP when that fails at the TLS level and the host is
--- loopback or the client is `insecure`. The scheme that answered is
--- remembered (schemes.lua), so the next command starts there; an entry
--- that fails is forgotten and the probe runs as if it never was.
--- Tasks that start together share the one ping (and its failure).
function Transport:base()
  if self.base_url then return self.base_url end
  return flight.run(self.flights, "base", function() return self:settle_base() end)
end

-- failures that say nothing about the scheme: the other one would meet them too
local not_the_scheme = {ECONNREFUSED = true, EHOST = true, ETIMEDOUT = true, ECANCELED = true}

-- The scheme cache (schemes.lua), or nil: a stand-in network (the specs')
-- answers what it is told, so there is nothing to learn from it, and a
-- scheme the user gave is not a question.
function Transport:scheme_cache()
  if self.scheme or self.http ~= package.loaded["regsh.http"] then return nil end
  return require "regsh.registry.schemes"
end

-- The base URL the cache remembers for this host, or nil. Plain HTTP only
-- where it may be spoken at all (loopback, `insecure`), whatever the file says.
function Transport:remembered_base(cache)
  local scheme = cache and cache.get(self.api_host)
  if scheme == "https" or (scheme == "http" and self.plain_allowed) then
    return scheme .. "://" .. self.api_host
  end
end

-- The remembered base failed (err): forget it, and say so in the log.
function Transport:forget_base(cache, base, err)
  cache.forget(self.api_host)
  self:log("debug", string.format("%s: %s remembered but failed (%s), probing again",
    self.host, base, tostring(err)))
end

function Transport:settle_base()
  if self.base_url then return self.base_url end
  local cache = self:scheme_cache()
  local err, code
  local remembered = self:remembered_base(cache)
  if remembered then
    local res
    res, err, code = self:ping_base(remembered)
    if res then
      self.base_url = remembered
      return remembered
    end
    self:forget_base(cache, remembered, err)
    if not_the_scheme[code] then return nil, err, code end
  end
  local schemes = {self.scheme}
  if not self.scheme then
    schemes = self.plain_allowed and {"https", "http"} or {"https"}
  end
  local tls_err
  for _, scheme in ipairs(schemes) do
    local base = scheme .. "://" .. self.api_host
    local res
    res, err, code = self:ping_base(base)
    if res then
      self.base_url = base
      if cache then cache.remember(self.api_host, scheme) end
      return base
    end
    if code ~= "ETLS" then break end
    tls_err = err
  end
  -- a server that speaks TLS but could not be verified: its TLS error, not
  -- the EPROTO of its answer to plain HTTP
  if code == "EPROTO" and tls_err then return nil, tls_err, "ETLS" end
  if code == "ETLS" and not self.plain_allowed and not self.scheme then
    err = err .. " (for a plain-HTTP registry or an unverified certificate, "
      .. "use insecure = true / --insecure)"
  end
  return nil, err, code
end

local function copy_headers(h)
  local out = {}
  for k, v in pairs(h or {}) do out[k] = v end
  return out
end

-- Whether an answer to a read sent straight to a remembered base may be
-- from something else than the registry that was there: a TLS server's 400
-- to plain HTTP ("client sent an HTTP request to an HTTPS server"), a web
-- server's 404 page. A registry's own 404 (a missing manifest) carries the
-- Distribution API's version header; a registry sends no read of ours a 400.
local function maybe_not_a_registry(res)
  if res.headers["docker-distribution-api-version"] then return false end
  return res.status == 400 or res.status == 404
end

-- failures that may come of the scheme itself: the probe settles them
local maybe_the_scheme = {ETLS = true, EPROTO = true}

-- The request against one base URL: the Authorization header, and one more
-- attempt after a 401 challenge.
function Transport:exchange(base, spec, what)
  local err, code
  local target = spec.url and url.resolve(base .. "/v2/", spec.url) or (base .. spec.path)
  -- credentials go only to the registry itself, never to a storage redirect or a Link elsewhere
  local same_origin = url.origin(target) == url.origin(base)
  local scopes = spec.scopes or {}
  local challenged = false
  while true do
    local headers = copy_headers(spec.headers)
    if same_origin then
      local value
      value, err, code = self.auth:header(scopes)
      if err then return nil, err, code end
      headers.Authorization = value
    end
    local res
    res, err, code = self:send({method = spec.method, url = target, headers = headers,
      body = spec.body, output = spec.output, max_body = spec.max_body,
      on_data = spec.on_data, on_attempt = spec.on_attempt}, what)
    if not res then return nil, err, code end
    if res.status == 401 and same_origin and not challenged then
      challenged = true
      local sent_basic = headers.Authorization and headers.Authorization:match("^Basic ")
      local ok
      ok, err, code = self.auth:on_unauthorized(res, scopes,
        self.http.header_values(res, "www-authenticate"))
      if not ok then return nil, err, code end
      if sent_basic and self.auth.scheme == "basic" then
        return self:fail("EAUTH", string.format("%s: %s rejected %s (%s)", what, self.host,
          self.auth:describe_credential(), status_detail(self, res)))
      end
    elseif res.status == 401 then
      return self:fail("EAUTH", string.format("%s: %s rejected %s (%s)", what, self.host,
        self.auth:describe_credential(), status_detail(self, res)))
    elseif res.status == 403 then
      return self:fail("EDENIED", string.format("%s: %s denied %s to %s (%s)", what, self.host,
        (spec.method or "GET"), self.auth:describe_credential(), status_detail(self, res)))
    else
      return res
    end
  end
end

-- straight's work for the one read that goes first: done and the outcome,
-- or not done after forgetting the remembered base.
local function straight_once(self, cache, base, spec, what)
  local res, err, code = self:exchange(base, spec, what)
  if res and not maybe_not_a_registry(res) then
    self.base_url = self.base_url or base
    return true, res
  end
  if not res and not maybe_the_scheme[code] then
    -- the registry's own refusal (EAUTH, EDENIED), or what the probe would
    -- meet alike (a refused connection, a body too large): the outcome stands,
    -- and a connection that failed is not trusted next time either
    if not_the_scheme[code] then self:forget_base(cache, base, err) end
    return true, nil, err, code
  end
  self:forget_base(cache, base, err or ("HTTP " .. res.status))
  return false
end

-- A read before the base is settled, sent straight to the base the scheme
-- cache remembers: no /v2/ ping (a 401 on the read itself teaches the auth
-- scheme, as a ping's would). One read goes first; tasks that start
-- together wait for its answer, which settles the base and the auth, rather
-- than each sending a read the registry would refuse. Returns done (the
-- request's outcome stands) and that outcome; not done when nothing is
-- remembered, the answer may not have come from a registry, or this task
-- waited for another's: the caller then goes through base(), the probe.
function Transport:straight(spec, what)
  local cache = self:scheme_cache()
  local base = self:remembered_base(cache)
  if not base then return false end
  -- only the task whose flight it is sets mine; the others wait it out
  local mine
  flight.run(self.flights, "straight", function()
    mine = table.pack(straight_once(self, cache, base, spec, what))
  end)
  if not mine then return false end
  return table.unpack(mine, 1, mine.n)
end

--- A request to the registry. spec: method, path (under the base URL) or url,
--- headers, body, scopes (token scopes), what (names the object in messages),
--- write (the description of a write, which only layer:write, past the
--- dry-run gate, sends), output, max_body, on_data (the body to a
--- callback) with on_attempt (called before every attempt, so the callback's
--- receiver can start over). Returns the response for
--- any status but 401/403 (EAUTH/EDENIED), or nil, err, code.
--- A client's first reads go straight to the scheme the last command found
--- (straight above); a write never does, so that a body is not sent twice
--- for want of a ping.
function Transport:request(spec)
  local what = spec.what or self.host
  local method = spec.method or "GET"
  if method ~= "GET" and method ~= "HEAD" and not spec.write then
    error("regsh.registry: " .. method .. " " .. what .. " did not pass the dry-run gate", 2)
  end
  if not self.base_url and (method == "GET" or method == "HEAD") then
    local done, res, err, code = self:straight(spec, what)
    if done then return res, err, code end
  end
  local base, err, code = self:base()
  if not base then return nil, err, code end
  return self:exchange(base, spec, what)
end

return M
