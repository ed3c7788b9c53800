-- regsh.registry.redact: keep secrets out of messages. Passwords and tokens
-- travel as opaque secret objects whose tostring() is "<redacted>", and every
-- error or log line goes through text(), which also scrubs header- and
-- JSON-shaped credentials that came from elsewhere (a registry's echo, curl).
local M = {}

M.MASK = "<redacted>"

-- The secrets and their class live in the Lua registry, so that a second load
-- of this module (busted reloads modules between spec files) still knows, and
-- still scrubs, the secrets made before it: one set per Lua state, as regsh.async's.
local STATE_KEY = "regsh.registry.redact.state"
local state = debug.getregistry()[STATE_KEY]
if not state then
  state = {values = setmetatable({}, {__mode = "k"}), Secret = {}}  -- values: secret -> string
  debug.getregistry()[STATE_KEY] = state
end
local values = state.values

local Secret = state.Secret
Secret.__name = "regsh.secret"
Secret.__metatable = "regsh.secret"
Secret.__tostring = function() return M.MASK end
Secret.__concat = function(a, b)
  local function show(v) return values[v] and M.MASK or tostring(v) end
  return show(a) .. show(b)
end
Secret.__newindex = function() error("a secret is read-only", 2) end
Secret.__index = {
  --- The hidden string: call only where it goes on the wire.
  reveal = function(self) return values[self] end,
}

--- Wrap a string as a secret (nil and existing secrets pass through).
function M.secret(value)
  if value == nil or values[value] then return value end
  if type(value) ~= "string" then error("bad argument #1 to 'secret' (string expected)", 2) end
  local s = setmetatable({}, Secret)
  values[s] = value
  return s
end

function M.is_secret(value)
  return values[value] ~= nil
end

--- The string behind a secret (or the string itself).
function M.reveal(value)
  if values[value] then return values[value] end
  return value
end

local patterns = {
  -- header-shaped: "Authorization: Basic xxx", "Bearer xxx"
  {"([Aa]uthorization:%s*%a+%s+)[^%s,;\"']+", "%1" .. M.MASK},
  -- (a challenge's 'Basic realm="x"' is not a credential: the frontier skips it)
  {'(%f[%w][Bb]asic%s+)[%w+/]+=*%f[^%w+/="]', "%1" .. M.MASK},
  {'(%f[%w][Bb]earer%s+)[%w%-._~+/]+=*%f[^%w%-._~+/="]', "%1" .. M.MASK},
  -- JSON-shaped: "token": "xxx", "Secret":"xxx", "auth":"xxx"
  {'("[%w_]*[Tt]oken"%s*:%s*")[^"]*(")', "%1" .. M.MASK .. "%2"},
  {'("[Ss]ecret"%s*:%s*")[^"]*(")', "%1" .. M.MASK .. "%2"},
  {'("[Pp]assword"%s*:%s*")[^"]*(")', "%1" .. M.MASK .. "%2"},
  {'("auth"%s*:%s*")[^"]*(")', "%1" .. M.MASK .. "%2"},
  -- form- and query-shaped: refresh_token=xxx&, password=xxx
  {"(%f[%w][%w_]*token=)[^&%s\"']+", "%1" .. M.MASK},
  {"(%f[%w]password=)[^&%s\"']+", "%1" .. M.MASK},
  -- pre-signed storage URLs (S3's X-Amz-Signature, Azure's sig): the query is the credential
  {"([?&][%w%-_]*[Ss]ig[%w%-_]*=)[^&%s\"']+", "%1" .. M.MASK},
  -- user:password@ in URLs
  {"(%a[%w+.-]*://[^:/@%s]+:)[^@/%s]+@", "%1" .. M.MASK .. "@"},
}

--- Scrub a message: credential-shaped text, then each known secret (objects
--- or strings) verbatim. Non-strings are converted with tostring first.
function M.text(message, secrets)
  local s = tostring(message)
  for _, p in ipairs(patterns) do s = s:gsub(p[1], p[2]) end
  for _, secret in ipairs(secrets or {}) do
    local plain = M.reveal(secret)
    -- short strings would mask ordinary words; real secrets are longer
    if type(plain) == "string" and #plain >= 4 then
      local start = 1
      while true do
        local i, j = s:find(plain, start, true)
        if not i then break end
        s = s:sub(1, i - 1) .. M.MASK .. s:sub(j + 1)
        start = i + #M.MASK
      end
    end
  end
  return s
end

--- A copy of a header table with credential headers masked, for logs.
function M.headers(headers)
  local out = {}
  for name, value in pairs(headers or {}) do
    local lower = name:lower()
    if lower == "authorization" or lower == "proxy-authorization" or lower == "cookie" then
      out[name] = M.MASK
    else
      out[name] = value
    end
  end
  return out
end

return M
