-- regsh.repl.format: how the REPL shows a value. Tables nest with cycles
-- marked and long lists cut with a count; tag listings become aligned tables;
-- every string goes through redact.printable, since most of what a session
-- prints came from a registry (names, annotations, error messages).
local redact = require "regsh.registry.redact"

local M = {}

M.MAX_ITEMS = 40      -- entries of one table shown before "... (N more)"
M.MAX_DEPTH = 6       -- deeper tables print as {...}

local PALETTE = {string = "32", number = "36", boolean = "35", dim = "2", head = "1"}

--- Whether output should be coloured: stdout is a terminal, NO_COLOR is
--- unset (https://no-color.org: any value, even empty, turns colour off) and
--- TERM is not "dumb".
function M.use_colour()
  if os.getenv("NO_COLOR") ~= nil or os.getenv("TERM") == "dumb" then return false end
  local ok, fs = pcall(require, "regsh.fs")
  return ok and fs.isatty(io.stdout) or false
end

local function painter(colour)
  if not colour then return function(_, s) return s end end
  return function(kind, s) return "\27[" .. PALETTE[kind] .. "m" .. s .. "\27[0m" end
end

--- A string as a Lua literal, its control characters escaped.
function M.quote(s)
  return '"' .. redact.printable((s:gsub('[\\"]', "\\%0"))) .. '"'
end

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil
end

local function key_order(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

-- the text of a value that is not a plain table (strings escaped)
local function scalar(value, paint)
  local t = type(value)
  if t == "string" then return paint("string", M.quote(value)) end
  if t == "number" then return paint("number", tostring(value)) end
  if t == "boolean" or t == "nil" then return paint("boolean", tostring(value)) end
  return redact.printable(tostring(value))  -- __tostring may quote a server
end

local function has_tostring(value)
  local mt = getmetatable(value)
  return type(mt) == "table" and mt.__tostring ~= nil
end

local render

-- manifests keep their exact bytes in `raw`: shown as a size, not the bytes
local function field_value(k, v, value)
  if k == "raw" and type(v) == "string" and value.digest and value.media_type then
    return setmetatable({}, {__tostring = function() return "<" .. #v .. " bytes>" end})
  end
  return v
end

function render(value, ctx, indent, out)
  if type(value) ~= "table" or has_tostring(value) then
    out[#out + 1] = scalar(value, ctx.paint)
    return
  end
  if ctx.open[value] then out[#out + 1] = ctx.paint("dim", "<cycle>"); return end
  if next(value) == nil then out[#out + 1] = "{}"; return end
  if indent >= M.MAX_DEPTH then out[#out + 1] = ctx.paint("dim", "{...}"); return end
  ctx.open[value] = true
  local keys = {}
  for k in pairs(value) do keys[#keys + 1] = k end
  table.sort(keys, key_order)
  local pad = string.rep("  ", indent + 1)
  local n = #value
  out[#out + 1] = "{\n"
  for i, k in ipairs(keys) do
    if i > M.MAX_ITEMS then
      out[#out + 1] = pad .. ctx.paint("dim", string.format("... (%d more)", #keys - M.MAX_ITEMS))
        .. "\n"
      break
    end
    out[#out + 1] = pad
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then  -- the list part shows no key
      if is_identifier(k) then out[#out + 1] = k .. " = "
      else
        out[#out + 1] = "["
        render(k, ctx, indent + 1, out)
        out[#out + 1] = "] = "
      end
    end
    render(field_value(k, value[k], value), ctx, indent + 1, out)
    out[#out + 1] = ",\n"
  end
  out[#out + 1] = string.rep("  ", indent) .. "}"
  ctx.open[value] = nil
end

-- {1536, "KiB"}: sizes as people read them
function M.size(n)
  if type(n) ~= "number" then return "" end
  local units, i = {"B", "KiB", "MiB", "GiB", "TiB"}, 1
  while n >= 1024 and i < #units do n, i = n / 1024, i + 1 end
  return i == 1 and string.format("%d B", n) or string.format("%.1f %s", n, units[i])
end

--- "3 days ago" for an RFC 3339 time (or a Unix time), as of now.
function M.ago(when, now)
  local time = require "regsh.time"
  local t = type(when) == "number" and when or (type(when) == "string" and time.parse_rfc3339(when))
  if not t then return "" end
  local d = (now or os.time()) - t
  if d < 0 then return "in the future" end
  for _, unit in ipairs{{86400 * 365, "year"}, {86400 * 30, "month"}, {86400, "day"},
                        {3600, "hour"}, {60, "minute"}} do
    local count = d // unit[1]
    if count >= 1 then
      return string.format("%d %s%s ago", count, unit[2], count == 1 and "" or "s")
    end
  end
  return "just now"
end

local COLUMNS = {
  {"name", "TAG"}, {"digest", "DIGEST"}, {"size", "SIZE", M.size},
  {"created", "CREATED", M.ago}, {"updated", "UPDATED", M.ago},
  {"locked", "LOCKED", function(v) return v and "yes" or "" end},
}

--- Whether value is a tag listing: a non-empty list of tables each with a
--- string `name` and nothing but tag fields.
function M.is_tag_listing(value)
  if type(value) ~= "table" or getmetatable(value) or #value == 0 then return false end
  local allowed = {}
  for _, c in ipairs(COLUMNS) do allowed[c[1]] = true end
  for k, entry in pairs(value) do
    if math.type(k) ~= "integer" or type(entry) ~= "table" or type(entry.name) ~= "string" then
      return false
    end
    for field in pairs(entry) do if not allowed[field] then return false end end
  end
  return true
end

--- A tag listing as an aligned table: a column per field any entry has.
function M.tag_table(entries, paint)
  paint = paint or painter(false)
  local cols = {}
  for _, c in ipairs(COLUMNS) do
    for _, e in ipairs(entries) do
      if e[c[1]] ~= nil then cols[#cols + 1] = c; break end
    end
  end
  local rows, widths = {}, {}
  for i, c in ipairs(cols) do widths[i] = utf8.len(c[2]) end
  local shown = math.min(#entries, M.MAX_ITEMS * 5)
  for r = 1, shown do
    local row = {}
    for i, c in ipairs(cols) do
      local v = entries[r][c[1]]
      local text = redact.printable(c[3] and c[3](v) or (v == nil and "" or tostring(v)))
      row[i] = text
      widths[i] = math.max(widths[i], utf8.len(text) or #text)
    end
    rows[r] = row
  end
  local function line(cells, kind)
    local parts = {}
    for i, text in ipairs(cells) do
      local padded = i == #cells and text
        or text .. string.rep(" ", widths[i] - (utf8.len(text) or #text))
      parts[i] = kind and paint(kind, padded) or padded
    end
    return table.concat(parts, "  ")
  end
  local heads = {}
  for i, c in ipairs(cols) do heads[i] = c[2] end
  local out = {line(heads, "head")}
  for _, row in ipairs(rows) do out[#out + 1] = line(row) end
  if shown < #entries then
    out[#out + 1] = paint("dim", string.format("... (%d more)", #entries - shown))
  end
  return table.concat(out, "\n")
end

--- The text the REPL shows for a value. opts.colour: ANSI colours (default:
--- M.use_colour()).
function M.format(value, opts)
  local colour = opts and opts.colour
  if colour == nil then colour = M.use_colour() end
  local paint = painter(colour)
  if M.is_tag_listing(value) then return M.tag_table(value, paint) end
  local out = {}
  render(value, {open = {}, paint = paint}, 0, out)
  return table.concat(out)
end

return M
