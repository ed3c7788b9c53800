-- regsh.task.template_funcs: the values side of the Go text/template subset
-- (lua/regsh/task/template.lua is the parser and executor): how Go prints a
-- value, its truth, comparison, printf, and the builtin and Sprig functions.
-- A function raises a string with fail() for a template error; the executor
-- turns it into ETEMPLATE naming the file and line.
local json = require("regsh.json")
local base64 = require("regsh.registry.base64")

local M = {}

local concat, sort = table.concat, table.sort
local format, byte, char = string.format, string.byte, string.char
local math_type = math.type
local null = json.null

--- The marker of a template error raised by a function (not a Lua bug).
local Failure = {}
Failure.__index = Failure
M.Failure = Failure

local function fail(fmt, ...)
  error(setmetatable({message = format(fmt, ...)}, Failure), 0)
end
M.fail = fail

local function is_nil(v) return v == nil or v == null end
M.is_nil = is_nil

--- is_array(t): a sequence (regsh.yaml/json mark decoded ones), not a map.
local function is_array(t)
  if getmetatable(t) == json.array_mt then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end
M.is_array = is_array

--- go_type(v): the Go type a value would have after a YAML decode, for messages.
local function go_type(v)
  local tv = type(v)
  if is_nil(v) then return "interface {}"
  elseif tv == "number" then return math_type(v) == "integer" and "int" or "float64"
  elseif tv == "table" then return is_array(v) and "[]interface {}" or "map[string]interface {}"
  elseif tv == "function" then return "func"
  end
  return tv   -- string, boolean -> "bool" below
end
M.go_type = function(v) local t = go_type(v); return t == "boolean" and "bool" or t end

-- Go's %v of a float64: the shortest digits that read back, exponent form
-- when the exponent is < -4 or >= 6 (strconv's 'g' with the shortest precision).
local function float_text(f)
  if f ~= f then return "NaN" end
  if f == math.huge then return "+Inf" elseif f == -math.huge then return "-Inf" end
  if f == 0 then return (1 / f < 0) and "-0" or "0" end
  local s
  for p = 0, 16 do
    s = format("%." .. p .. "e", f)
    if tonumber(s) == f then break end
  end
  local sign, int, frac, exp = s:match("^(-?)(%d)%.?(%d*)e([-+]%d+)$")
  local digits = (int .. frac):gsub("0+$", "")
  if digits == "" then digits = "0" end
  exp = tonumber(exp)
  if exp < -4 or exp >= 6 then
    local mant = digits:sub(1, 1) .. (#digits > 1 and "." .. digits:sub(2) or "")
    return format("%s%se%s%02d", sign, mant, exp < 0 and "-" or "+", math.abs(exp))
  end
  if exp < 0 then return sign .. "0." .. ("0"):rep(-exp - 1) .. digits end
  if #digits <= exp + 1 then return sign .. digits .. ("0"):rep(exp + 1 - #digits) end
  return sign .. digits:sub(1, exp + 1) .. "." .. digits:sub(exp + 2)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "string" or ta == "number" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys
end
M.sorted_keys = sorted_keys

--- text(v [, nil_text]): fmt's %v: "[a b]" for lists, "map[k:v]" for maps
--- (sorted keys), nil as nil_text ("<nil>" unless told).
local function text(v, nil_text, depth)
  depth = depth or 0
  if depth > 100 then fail("value nested too deeply to print") end
  local tv = type(v)
  if tv == "string" then return v
  elseif is_nil(v) then return nil_text or "<nil>"
  elseif tv == "number" then
    return math_type(v) == "integer" and format("%d", v) or float_text(v)
  elseif tv == "boolean" then return v and "true" or "false"
  elseif tv == "table" then
    local parts = {}
    if is_array(v) then
      for i = 1, #v do parts[i] = text(v[i], nil, depth + 1) end
      return "[" .. concat(parts, " ") .. "]"
    end
    for _, k in ipairs(sorted_keys(v)) do
      parts[#parts + 1] = text(k, nil, depth + 1) .. ":" .. text(v[k], nil, depth + 1)
    end
    return "map[" .. concat(parts, " ") .. "]"
  end
  return "<" .. tv .. ">"
end
M.text = text

--- truth(v): Go's isTrue: false, 0, "", nil and empty collections are false.
function M.truth(v)
  local tv = type(v)
  if is_nil(v) or v == false or v == 0 or v == "" then return false end
  if tv == "table" then return next(v) ~= nil end
  return true
end

-- {{{ Go string quoting (strconv.Quote), for %q and quote

local escapes = {["\a"] = "\\a", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r",
  ["\t"] = "\\t", ["\v"] = "\\v", ["\\"] = "\\\\", ['"'] = '\\"'}

local function go_quote(s)
  local out, i, n = {'"'}, 1, #s
  while i <= n do
    local b = byte(s, i)
    local c = char(b)
    if escapes[c] then
      out[#out + 1] = escapes[c]
      i = i + 1
    elseif b < 0x20 or b == 0x7f then
      out[#out + 1] = format("\\x%02x", b)
      i = i + 1
    elseif b < 0x80 then
      out[#out + 1] = c
      i = i + 1
    else
      local len = b >= 0xf0 and 4 or b >= 0xe0 and 3 or b >= 0xc0 and 2 or 1
      local piece = s:sub(i, i + len - 1)
      if len > 1 and #piece == len and utf8.len(piece) == 1 then
        out[#out + 1] = piece
        i = i + len
      else
        out[#out + 1] = format("\\x%02x", b)
        i = i + 1
      end
    end
  end
  out[#out + 1] = '"'
  return concat(out)
end
M.go_quote = go_quote

-- }}}

-- {{{ comparison (eq ne lt le gt ge), as Go's basicKind rules

local function kind(v)
  if is_nil(v) then return "nil" end
  local tv = type(v)
  if tv == "number" then return math_type(v) end
  if tv == "string" or tv == "boolean" then return tv end
  return "other"
end

local function equal(a, b)
  local ka, kb = kind(a), kind(b)
  if ka ~= kb then
    if ka == "nil" or kb == "nil" then return false end
    fail("incompatible types for comparison")
  end
  if ka == "nil" then return true end
  if ka == "other" then fail("non-comparable type %s", go_type(a)) end
  return a == b
end

local function less(a, b)
  local ka, kb = kind(a), kind(b)
  if ka == "nil" or ka == "boolean" or ka == "other" or kb == "nil" or kb == "boolean"
    or kb == "other" then
    fail("invalid type for comparison")
  end
  if ka ~= kb then fail("incompatible types for comparison") end
  return a < b
end

-- }}}

-- {{{ printf (fmt.Sprintf, the verbs templates use)

local function bad_verb(verb, v)
  if is_nil(v) then return "%!" .. verb .. "(<nil>)" end
  return format("%%!%s(%s=%s)", verb, M.go_type(v), text(v))
end

local function format_one(verb, flags, v)
  local spec = "%" .. flags
  local tv, mt = type(v), math_type(v)
  if verb == "v" then return format(spec .. "s", text(v)) end
  if verb == "s" then
    if tv == "string" or tv == "table" then return format(spec .. "s", text(v)) end
    return bad_verb(verb, v)
  elseif verb == "q" then
    if tv == "string" then return format(spec .. "s", go_quote(v)) end
    if mt == "integer" and v >= 0 and v <= 0x10ffff then
      return format(spec .. "s", "'" .. go_quote(utf8.char(v)):sub(2, -2) .. "'")
    end
    return bad_verb(verb, v)
  elseif verb == "d" or verb == "o" or verb == "c" then
    if mt ~= "integer" then return bad_verb(verb, v) end
    if verb == "c" then return utf8.char(v) end
    return format(spec .. verb, v)
  elseif verb == "x" or verb == "X" then
    if mt == "integer" then return format(spec .. verb, v) end
    if tv == "string" then
      local hex = v:gsub(".", function(c) return format(verb == "x" and "%02x" or "%02X", byte(c)) end)
      return format(spec:gsub("#", "") .. "s", hex)
    end
    return bad_verb(verb, v)
  elseif verb == "f" or verb == "F" or verb == "e" or verb == "E" or verb == "g" or verb == "G" then
    if mt ~= "float" then return bad_verb(verb, v) end
    if (verb == "g" or verb == "G") and not flags:find("%.") then
      return format(spec .. "s", float_text(v))
    end
    return format(spec .. (verb == "F" and "f" or verb), v)
  elseif verb == "t" then
    if tv ~= "boolean" then return bad_verb(verb, v) end
    return format(spec .. "s", tostring(v))
  end
  return "%!" .. verb .. "(" .. M.go_type(v) .. "=" .. text(v) .. ")"
end

--- printf(fmt, args...): fmt.Sprintf for %v %s %q %d %x %X %o %c %f %e %g %t
--- with flags, width and precision; wrong types and missing or extra
--- arguments are written into the text as Go writes them (%!d(string=x)).
function M.sprintf(fmt, ...)
  local args, n = {...}, select("#", ...)
  local out, argi, i = {}, 1, 1
  while i <= #fmt do
    local p = fmt:find("%", i, true)
    if not p then out[#out + 1] = fmt:sub(i); break end
    out[#out + 1] = fmt:sub(i, p - 1)
    local flags, verb, stop = fmt:match("^([-+# 0]*%d*%.?%d*)(.)()", p + 1)
    if not verb then out[#out + 1] = "%!(NOVERB)"; break end
    if #flags > 20 then flags = flags:sub(1, 20) end
    if verb == "%" then
      out[#out + 1] = "%"
    elseif argi > n then
      out[#out + 1] = "%!" .. verb .. "(MISSING)"
    else
      out[#out + 1] = format_one(verb, flags, args[argi])
      argi = argi + 1
    end
    i = stop
  end
  if argi <= n then
    local extra = {}
    for k = argi, n do
      extra[#extra + 1] = is_nil(args[k]) and "<nil>" or M.go_type(args[k]) .. "=" .. text(args[k])
    end
    out[#out + 1] = "%!(EXTRA " .. concat(extra, ", ") .. ")"
  end
  return concat(out)
end

-- }}}

-- {{{ the functions

-- Each entry: {params, fn}. params names the Go parameter types, so a value
-- of the wrong type fails as Go's call would: "string", "int", "any", and a
-- last "...any" / "...string" for variadic ones. Functions marked lazy
-- (and, or) get thunks and evaluate only what they need.

local function strval(v)
  if type(v) == "string" then return v end
  return text(v)
end

local function plain_replace(s, old, new)
  if old == "" then
    -- Go's strings.Replace with an empty old inserts new around every rune
    local out = {new}
    for _, c in utf8.codes(s, true) do out[#out + 1] = utf8.char(c); out[#out + 1] = new end
    return concat(out)
  end
  local out, i = {}, 1
  while true do
    local a, b = s:find(old, i, true)
    if not a then break end
    out[#out + 1] = s:sub(i, a - 1)
    out[#out + 1] = new
    i = b + 1
  end
  out[#out + 1] = s:sub(i)
  return concat(out)
end

local function strslice(v)
  if is_nil(v) then return {} end
  if type(v) == "table" and is_array(v) then
    local out = {}
    for i = 1, #v do if not is_nil(v[i]) then out[#out + 1] = strval(v[i]) end end
    return out
  end
  return {strval(v)}
end

local function split_list(sep, s)
  local out, i = {}, 1
  if sep == "" then
    for _, c in utf8.codes(s, true) do out[#out + 1] = utf8.char(c) end
    return out
  end
  while true do
    local a, b = s:find(sep, i, true)
    if not a then break end
    out[#out + 1] = s:sub(i, a - 1)
    i = b + 1
  end
  out[#out + 1] = s:sub(i)
  return out
end

local function length(v)
  if is_nil(v) then fail("len of nil pointer") end
  if type(v) == "string" then return #v end
  if type(v) == "table" then
    if is_array(v) then return #v end
    local n = 0
    for _ in pairs(v) do n = n + 1 end
    return n
  end
  fail("len of type %s", M.go_type(v))
end

local function index(item, ...)
  local keys = {...}
  for _, k in ipairs(keys) do
    if is_nil(item) then fail("index of untyped nil") end
    if type(item) == "string" then
      if math_type(k) ~= "integer" then fail("cannot index string with %s", M.go_type(k)) end
      if k < 0 or k >= #item then fail("index out of range: %d", k) end
      item = byte(item, k + 1)
    elseif type(item) ~= "table" then
      fail("can't index item of type %s", M.go_type(item))
    elseif is_array(item) or (next(item) == nil and math_type(k) == "integer") then
      if math_type(k) ~= "integer" then fail("cannot index slice/array with type %s", M.go_type(k)) end
      if k < 0 or k >= #item then fail("index out of range: %d", k) end
      item = item[k + 1]
    else
      if is_nil(k) then fail("value is nil; should be of type string") end
      item = item[k]
    end
  end
  return item
end

local function b64dec(s)
  local clean = s:gsub("[\r\n]", "")
  local bad = clean:find("[^A-Za-z0-9+/=]")
  if bad or #clean % 4 ~= 0 or clean:find("=[^=]") then
    -- Sprig returns the decoder's error text as the value
    return format("illegal base64 data at input byte %d", (bad or #clean - #clean % 4) - 1)
  end
  return (base64.decode(clean))
end

local function indent(n, s)
  local pad = (" "):rep(math.max(0, math.min(n, 10000)))
  return pad .. s:gsub("\n", "\n" .. pad)
end

M.functions = {
  -- text/template's builtins
  ["and"] = {lazy = true, fn = function(args)
    local v
    for i = 1, #args do v = args[i](); if not M.truth(v) then return v end end
    return v
  end},
  ["or"] = {lazy = true, fn = function(args)
    local v
    for i = 1, #args do v = args[i](); if M.truth(v) then return v end end
    return v
  end},
  ["not"] = {params = {"any"}, fn = function(v) return not M.truth(v) end},
  len = {params = {"any"}, fn = length},
  index = {params = {"any", "...any"}, fn = index},
  print = {params = {"...any"}, fn = function(...)
    local out, prev_string = {}, true
    for i = 1, select("#", ...) do
      local v = select(i, ...)
      local is_string = type(v) == "string"
      if i > 1 and not is_string and not prev_string then out[#out + 1] = " " end
      out[#out + 1] = text(v)
      prev_string = is_string
    end
    return concat(out)
  end},
  println = {params = {"...any"}, fn = function(...)
    local out = {}
    for i = 1, select("#", ...) do out[i] = text((select(i, ...))) end
    return concat(out, " ") .. "\n"
  end},
  printf = {params = {"string", "...any"}, fn = M.sprintf},
  eq = {params = {"any", "...any"}, fn = function(a, ...)
    if select("#", ...) == 0 then fail("missing argument for comparison") end
    for i = 1, select("#", ...) do if equal(a, (select(i, ...))) then return true end end
    return false
  end},
  ne = {params = {"any", "any"}, fn = function(a, b) return not equal(a, b) end},
  lt = {params = {"any", "any"}, fn = function(a, b) return less(a, b) end},
  le = {params = {"any", "any"}, fn = function(a, b) return less(a, b) or equal(a, b) end},
  gt = {params = {"any", "any"}, fn = function(a, b) return not (less(a, b) or equal(a, b)) end},
  ge = {params = {"any", "any"}, fn = function(a, b) return not less(a, b) end},

  -- Sprig's, with Sprig's argument order (the piped value comes last)
  b64enc = {params = {"any"}, fn = function(v)   -- ACR's nil-safe override
    if is_nil(v) then return "" end
    return base64.encode(strval(v))
  end},
  b64dec = {params = {"string"}, fn = b64dec},
  upper = {params = {"string"}, fn = string.upper},
  lower = {params = {"string"}, fn = string.lower},
  title = {params = {"string"}, fn = function(s)
    return (s:gsub("(%f[%w])(%w)", function(_, c) return c:upper() end))
  end},
  trim = {params = {"string"}, fn = function(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end},
  trimPrefix = {params = {"string", "string"}, fn = function(p, s)
    return s:sub(1, #p) == p and s:sub(#p + 1) or s
  end},
  trimSuffix = {params = {"string", "string"}, fn = function(x, s)
    return (#x > 0 and s:sub(-#x) == x) and s:sub(1, #s - #x) or s
  end},
  replace = {params = {"string", "string", "string"}, fn = function(old, new, s)
    return plain_replace(s, old, new)
  end},
  contains = {params = {"string", "string"}, fn = function(sub, s)
    return s:find(sub, 1, true) ~= nil
  end},
  hasPrefix = {params = {"string", "string"}, fn = function(p, s) return s:sub(1, #p) == p end},
  hasSuffix = {params = {"string", "string"}, fn = function(x, s)
    return #x == 0 or s:sub(-#x) == x
  end},
  default = {params = {"any", "...any"}, fn = function(d, ...)
    local given = ...
    if select("#", ...) == 0 or not M.truth(given) then return d end
    return given
  end},
  empty = {params = {"any"}, fn = function(v) return not M.truth(v) end},
  coalesce = {params = {"...any"}, fn = function(...)
    for i = 1, select("#", ...) do
      local v = select(i, ...)
      if M.truth(v) then return v end
    end
    return nil
  end},
  ternary = {params = {"any", "any", "any"}, fn = function(a, b, cond)
    if M.truth(cond) then return a end
    return b
  end},
  quote = {params = {"...any"}, fn = function(...)
    local out = {}
    for i = 1, select("#", ...) do
      local v = select(i, ...)
      if not is_nil(v) then out[#out + 1] = go_quote(strval(v)) end
    end
    return concat(out, " ")
  end},
  squote = {params = {"...any"}, fn = function(...)
    local out = {}
    for i = 1, select("#", ...) do
      local v = select(i, ...)
      if not is_nil(v) then out[#out + 1] = "'" .. strval(v) .. "'" end
    end
    return concat(out, " ")
  end},
  cat = {params = {"...any"}, fn = function(...)
    local out = {}
    for i = 1, select("#", ...) do
      local v = select(i, ...)
      if not is_nil(v) then out[#out + 1] = strval(v) end
    end
    return concat(out, " ")
  end},
  toString = {params = {"any"}, fn = strval},
  join = {params = {"string", "any"}, fn = function(sep, v) return concat(strslice(v), sep) end},
  splitList = {params = {"string", "string"}, fn = function(sep, s)
    return json.array(split_list(sep, s))
  end},
  split = {params = {"string", "string"}, fn = function(sep, s)   -- Sprig: a map _0, _1, ...
    local out = {}
    for i, part in ipairs(split_list(sep, s)) do out["_" .. (i - 1)] = part end
    return out
  end},
  ["repeat"] = {params = {"int", "string"}, fn = function(n, s)
    if n < 0 then fail("negative repeat count") end
    if n * #s > 16 * 1024 * 1024 then fail("repeat result too large") end
    return s:rep(n)
  end},
  indent = {params = {"int", "string"}, fn = indent},
  nindent = {params = {"int", "string"}, fn = function(n, s) return "\n" .. indent(n, s) end},
  toJson = {params = {"any"}, fn = function(v)
    local ok, out = pcall(json.encode, v)
    if not ok then return "" end   -- Sprig ignores json.Marshal's error
    -- encoding/json escapes these for HTML, and Sprig keeps that
    return (out:gsub("[<>&]", function(c) return format("\\u%04x", byte(c)) end))
  end},
}

-- }}}

return M
