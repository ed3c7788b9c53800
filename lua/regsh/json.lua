-- regsh.json: JSON for scripts. Decoding is lua-cjson's (a private
-- cjson.safe instance, so nobody's cjson settings change); encoding is done
-- here, for sorted keys, pretty output, exact integers and marked arrays.
local cjson = require("cjson.safe").new()

local M = {}

local concat, sort = table.concat, table.sort
local format, rep = string.format, string.rep
local math_type, tointeger = math.type, math.tointeger
local huge = math.huge

cjson.decode_invalid_numbers(false)  -- strict JSON: no NaN, Infinity, 0x10
cjson.decode_max_depth(1000)

--- The null sentinel: cjson's, and the same value as regsh.yaml.null.
M.null = require("cjson.safe").null

--- The metatable that marks a table as a JSON array, so that an empty one
--- encodes as [] (cjson cannot tell [] from {} once decoded). regsh.yaml
--- puts it on every sequence it decodes.
M.array_mt = {__name = "regsh.json.array"}

--- Mark t (a new table if nil) as an array; returns t.
function M.array(t)
  if t == nil then t = {} end
  if type(t) ~= "table" then
    error(format("bad argument #1 to 'array' (table expected, got %s)", type(t)), 2)
  end
  return setmetatable(t, M.array_mt)
end

local function check_string(s, fname, argn, optional)
  if type(s) ~= "string" and not (optional and s == nil) then
    error(format("bad argument #%d to '%s' (string expected, got %s)",
                 argn or 1, fname, type(s)), 3)
  end
end

-- 1-based line and column of byte position pos in s
local function line_column(s, pos)
  local line, start = 1, 1
  for nl in s:sub(1, pos - 1):gmatch("()\n") do
    line, start = line + 1, nl + 1
  end
  return line, pos - start + 1
end

-- cjson gives every number as a float: integral ones become integers (as
-- they were written, short of those past 2^53, which strtod has rounded),
-- and non-empty arrays get the array marker.
local function finish(t)
  for k, v in next, t do
    if type(v) == "table" then
      finish(v)
    elseif math_type(v) == "float" then
      local i = tointeger(v)
      if i then t[k] = i end
    end
  end
  if t[1] ~= nil then setmetatable(t, M.array_mt) end
end

--- decode(str [, name]) -> value | nil, "EJSON: [name:]line:col: detail", "EJSON"
function M.decode(str, name)
  check_string(str, "decode")
  check_string(name, "decode", 2, true)
  local value, err = cjson.decode(str)
  if err then
    local pos = tonumber(err:match(" at character (%d+)$")) or 1
    local line, column = line_column(str, math.min(pos, #str + 1))
    err = err:gsub(" at character %d+$", "")
    return nil, format("EJSON: %s%d:%d: %s", name and name .. ":" or "",
                       line, column, err), "EJSON"
  end
  if type(value) == "table" then
    finish(value)
  else
    value = tointeger(value) or value
  end
  return value
end


-- {======================================================
-- Encoding
-- =======================================================

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t", ["\127"] = "\\u007f",
}
for c = 0, 31 do
  local ch = string.char(c)
  escapes[ch] = escapes[ch] or format("\\u%04x", c)
end

local function quote(s)
  if not s:find('[%c"\\]') then return '"' .. s .. '"' end
  return '"' .. s:gsub('[%c"\\]', escapes) .. '"'
end

-- the shortest text that reads back as the same number
local function number_text(x)
  if math_type(x) == "integer" then return format("%d", x) end
  if x ~= x or x == huge or x == -huge then return nil end
  local s
  for precision = 14, 17 do
    s = format("%." .. precision .. "g", x)
    if tonumber(s) == x then break end
  end
  return (s:gsub(",", "."))  -- a locale's decimal comma
end

-- where in the value the encoder is, for error messages: $.a[2].b
local function path_text(path, depth)
  local parts = {"$"}
  for i = 1, depth do
    local k = path[i]
    if depth > 16 and i > 8 and i <= depth - 8 then  -- keep the message short
      if i == 9 then parts[#parts + 1] = "..." end
    elseif math_type(k) == "integer" then
      parts[#parts + 1] = "[" .. k .. "]"
    elseif type(k) == "string" and k:match("^[%a_][%w_]*$") then
      parts[#parts + 1] = "." .. k
    else
      parts[#parts + 1] = "[" .. format("%q", tostring(k)) .. "]"
    end
  end
  return concat(parts)
end

local function fail(state, depth, what)
  error("regsh.json.encode: cannot encode " .. what .. " at "
        .. path_text(state.path, depth), 0)
end

-- "array" with its length, "object" with its keys, or raise for tables
-- JSON cannot hold
local function classify(state, t, depth)
  local count, max, strings, others = 0, 0, 0, nil
  local keys = {}
  for k in next, t do
    count = count + 1
    if type(k) == "string" then
      strings = strings + 1
      keys[strings] = k
    elseif math_type(k) == "integer" and k > 0 then
      if k > max then max = k end
    else
      others = others or k
    end
  end
  local marked = getmetatable(t) == M.array_mt
  if others ~= nil then
    fail(state, depth, format("a table with a %s key (%s)", type(others),
                              tostring(others)))
  elseif marked and strings > 0 then
    fail(state, depth, "a table marked as an array that has other keys")
  elseif strings == count then
    if count == 0 and marked then return "array", 0 end
    return "object", count, keys
  elseif strings > 0 then
    fail(state, depth, "a table with both string keys and array indexes")
  elseif max ~= count then
    fail(state, depth, format("a sparse array (%d items, largest index %d)",
                              count, max))
  end
  return "array", count
end

local encode_value

local function encode_table(state, t, depth, out)
  if depth >= 1000 then fail(state, depth, "a table nested deeper than 1000 levels") end
  if state.visiting[t] then fail(state, depth, "a table that contains itself (a cycle)") end
  state.visiting[t] = true
  local kind, n, keys = classify(state, t, depth)
  local indent = state.indent
  local open, close, sep = "[", "]", ","
  if kind == "object" then open, close = "{", "}" end
  local inner, outer
  if indent then
    inner = "\n" .. rep(indent, depth + 1)
    outer = "\n" .. rep(indent, depth)
  end
  out[#out + 1] = open
  if kind == "array" then
    for i = 1, n do
      if i > 1 then out[#out + 1] = sep end
      if inner then out[#out + 1] = inner end
      state.path[depth + 1] = i
      encode_value(state, t[i], depth + 1, out)
    end
  else
    sort(keys)
    local key_text = state.key_text
    for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = sep end
      if inner then out[#out + 1] = inner end
      local text = key_text[k]
      if not text then  -- objects repeat their keys: quote each once
        text = quote(k) .. (indent and ": " or ":")
        key_text[k] = text
      end
      out[#out + 1] = text
      state.path[depth + 1] = k
      encode_value(state, t[k], depth + 1, out)
    end
  end
  if n > 0 and outer then out[#out + 1] = outer end
  out[#out + 1] = close
  state.visiting[t] = nil
end

function encode_value(state, v, depth, out)
  local tv = type(v)
  if tv == "string" then
    out[#out + 1] = quote(v)
  elseif tv == "number" then
    out[#out + 1] = number_text(v)
      or fail(state, depth, "a number that JSON has no text for ("
                                .. (v ~= v and "NaN" or tostring(v)) .. ")")
  elseif tv == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif v == nil or v == M.null then
    out[#out + 1] = "null"
  elseif tv == "table" then
    encode_table(state, v, depth, out)
  else
    fail(state, depth, "a " .. tv .. " value")
  end
end

local encode_options = {pretty = "boolean", indent = "number"}

--- encode(value [, {pretty = true, indent = 2}]) -> string; raises on
--- values JSON cannot hold (functions, cycles, sparse arrays, NaN).
function M.encode(value, opts)
  local indent
  if opts ~= nil then
    if type(opts) ~= "table" then
      error(format("bad argument #2 to 'encode' (table expected, got %s)", type(opts)), 2)
    end
    for k, v in pairs(opts) do
      if not encode_options[k] then error(format("unknown option '%s'", tostring(k)), 2) end
      if type(v) ~= encode_options[k] then
        error(format("option '%s' must be a %s, got %s", k, encode_options[k], type(v)), 2)
      end
    end
    if opts.pretty then indent = rep(" ", opts.indent or 2) end
  end
  local out = {}
  local state = {path = {}, visiting = {}, key_text = {}, indent = indent}
  local ok, err = pcall(encode_value, state, value, 0, out)
  if not ok then error(err, 2) end
  return concat(out)
end

-- }======================================================


local errno_name = require("regsh.core.host").errno_name

-- The whole of a file, or the fail tuple with the errno's name (the C side's
-- code, as every module gives it). regsh.yaml reads its files with this too.
function M._read_file(path)
  local f, err, errno = io.open(path, "rb")
  local data
  if f then
    data, err, errno = f:read("a")
    f:close()
    if data then return data end
  end
  local code = errno and errno_name(errno) or "EIO"
  if err:sub(1, #path + 1) ~= path .. ":" then err = path .. ": " .. err end
  return nil, code .. ": " .. err, code
end

--- decode_file(path) -> value | nil, msg, code (ENOENT..., EJSON)
function M.decode_file(path)
  check_string(path, "decode_file")
  local data, err, code = M._read_file(path)
  if not data then return nil, err, code end
  return M.decode(data, path)
end

return M
