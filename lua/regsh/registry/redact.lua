-- regsh.registry.redact: keep secrets out of messages. Passwords and tokens
-- travel as opaque secret objects whose tostring() is "<redacted>", and every
-- error or log line goes through text(), which also scrubs header- and
-- JSON-shaped credentials that came from elsewhere (a registry's echo, curl).
-- printable() escapes what a server wrote before it reaches a terminal.
local base64 = require "regsh.registry.base64"
local url = require "regsh.registry.url"

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
  -- user:password@ in URLs; the password runs to the last "@" of the
  -- authority, as a URL parser reads it ("u:p@ss@host": "p@ss")
  {"(%a[%w+.-]*://[^:/@%s]+:)[^/%s?#]*@", "%1" .. M.MASK .. "@"},
}

-- Secrets this long are masked wherever they appear, in every form; shorter
-- ones would mask ordinary words ("a", "pw") and are masked only in
-- credential positions (the patterns above) and where they stand quoted.
M.SHORT = 4

--- replace(s, plain [, mask]) -> s with every plain occurrence of plain
--- replaced by mask (default M.MASK), in one pass (a line may be megabytes).
function M.replace(s, plain, mask)
  local i, j = s:find(plain, 1, true)
  if not i then return s end
  local parts, from = {}, 1
  while i do
    parts[#parts + 1] = s:sub(from, i - 1)
    parts[#parts + 1] = mask or M.MASK
    from = j + 1
    i, j = s:find(plain, from, true)
  end
  parts[#parts + 1] = s:sub(from)
  return table.concat(parts)
end

local function mask_all(s, plain) return M.replace(s, plain) end

local function mask_quoted(s, plain)
  for _, q in ipairs({'"', "'"}) do s = mask_all(s, q .. plain .. q) end
  return s
end

-- The base64 of s as `base64` (76 columns) and `openssl base64` (64) print
-- it, each line one piece, plus the whole.
local function base64_pieces(encoded, out)
  for _, width in ipairs({76, 64}) do
    if #encoded > width then
      for i = 1, #encoded, width do out[#out + 1] = encoded:sub(i, i + width - 1) end
    end
  end
end

--- variants(plain) -> {strings}: the forms a secret travels in, longest
--- first: itself, percent-encoded (forms, query strings), base64 and
--- base64url with and without padding (Basic headers, auth fields, `printf
--- %s "$SECRET" | base64`, also with the newline `echo` adds), the lines
--- `base64` wraps them in, and each line of a multi-line secret (a key
--- printed line by line). Pieces shorter than M.SHORT are left out but the
--- whole secret is always there.
function M.variants(plain)
  local out = {plain, url.escape(plain)}
  for _, text in ipairs({plain, plain .. "\n"}) do
    local encoded = base64.encode(text)
    local bare = encoded:gsub("=+$", "")
    local urlsafe = bare:gsub("[+/]", {["+"] = "-", ["/"] = "_"})
    out[#out + 1], out[#out + 2], out[#out + 3] = encoded, bare, urlsafe
    out[#out + 1] = urlsafe .. encoded:match("=*$")
    base64_pieces(encoded, out)
  end
  if plain:find("[\r\n]") then
    for line in plain:gmatch("[^\r\n]+") do
      if #line:match("^%s*(.-)%s*$") > 0 then out[#out + 1] = line end
    end
  end
  local seen, list = {}, {}
  for i, form in ipairs(out) do
    if not seen[form] and (i == 1 or #form >= M.SHORT) then
      seen[form] = true
      list[#list + 1] = form
    end
  end
  table.sort(list, function(a, b) return #a > #b or (#a == #b and a < b) end)
  return list
end

-- Every log line is scrubbed, so the forms are computed once per secret (the
-- cache is dropped when it grows: tokens come and go).
local form_cache, cached = {}, 0
local function forms(plain)
  local found = form_cache[plain]
  if found then return found end
  found = M.variants(plain)
  if cached >= 256 then form_cache, cached = {}, 0 end
  form_cache[plain], cached = found, cached + 1
  return found
end

--- Scrub a message: credential-shaped text, then each known secret (objects
--- or strings): one of M.SHORT bytes or more wherever it appears, in each of
--- its variants(); a shorter one where it stands quoted.
--- Register "user:password" too (Auth:secrets does) so that a registry's
--- echo of a Basic credential without its "Basic " is masked.
--- Non-strings are converted with tostring first.
function M.text(message, secrets)
  local s = tostring(message)
  for _, p in ipairs(patterns) do s = s:gsub(p[1], p[2]) end
  for _, secret in ipairs(secrets or {}) do
    local plain = M.reveal(secret)
    if type(plain) == "string" and plain ~= "" then
      if #plain >= M.SHORT then
        for _, form in ipairs(forms(plain)) do s = mask_all(s, form) end
      else
        s = mask_quoted(s, plain)
      end
    end
  end
  return s
end

-- Escape what a terminal would act on or a JSON reader refuse: bytes that
-- are not UTF-8 become \xHH; with controls, so do C0 controls and DEL, and
-- C1 controls (U+0080-U+009F, CSI among them) become \u{HH}.
local function escape(s, controls)
  local pattern = controls and "[%c\128-\255]" or "[\128-\255]"
  if not s:find(pattern) then return s end
  local out, i, n = {}, 1, #s
  while i <= n do
    local c = s:byte(i)
    if c < 0x80 then
      out[#out + 1] = (controls and (c < 0x20 or c == 0x7f)) and string.format("\\x%02x", c)
        or string.char(c)
      i = i + 1
    else
      local len = (c >= 0xf0 and 4) or (c >= 0xe0 and 3) or (c >= 0xc2 and 2) or 1
      local seq = s:sub(i, i + len - 1)
      local valid = len > 1 and #seq == len and utf8.len(seq) == 1
      local cp = valid and utf8.codepoint(seq)
      if not valid then
        out[#out + 1] = string.format("\\x%02x", c)
        i = i + 1
      else
        out[#out + 1] = (controls and cp <= 0x9f) and string.format("\\u{%x}", cp) or seq
        i = i + len
      end
    end
  end
  return table.concat(out)
end

--- Text from a server made safe to print: control characters (newlines
--- too), C1 controls and bytes that are not UTF-8 escaped as \xHH / \u{HH}.
function M.printable(text)
  return escape(tostring(text), true)
end

--- A string made valid UTF-8 (for JSON output): stray bytes become \xHH.
function M.utf8(text)
  return escape(tostring(text), false)
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
