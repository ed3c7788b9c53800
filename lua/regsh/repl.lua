-- regsh.repl: the Lua half of the REPL (src/repl.c): reading a line through
-- the loop, and how results print (tables as readable Lua).
local M = {}

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil
end

local function render(value, indent, seen, out)
  local t = type(value)
  if t == "string" then out[#out + 1] = string.format("%q", value); return end
  if t ~= "table" or seen[value] then out[#out + 1] = tostring(value); return end
  local mt = getmetatable(value)
  if mt and mt.__tostring then out[#out + 1] = tostring(value); return end
  seen[value] = true
  local keys = {}
  for k in pairs(value) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  if #keys == 0 then out[#out + 1] = "{}"; seen[value] = nil; return end
  local pad = string.rep("  ", indent + 1)
  out[#out + 1] = "{\n"
  local n = #value
  for _, k in ipairs(keys) do
    out[#out + 1] = pad
    local in_array_part = math.type(k) == "integer" and k >= 1 and k <= n
    if in_array_part then -- no key shown
      out[#out + 1] = ""
    elseif is_identifier(k) then out[#out + 1] = k .. " = "
    else
      out[#out + 1] = "["
      render(k, indent + 1, seen, out)
      out[#out + 1] = "] = "
    end
    render(value[k], indent + 1, seen, out)
    out[#out + 1] = ",\n"
  end
  out[#out + 1] = string.rep("  ", indent) .. "}"
  seen[value] = nil
end

--- The text the REPL shows for a value.
function M.format(value)
  local out = {}
  render(value, 0, {}, out)
  return table.concat(out)
end

function M.print(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = M.format((select(i, ...))) end
  io.stdout:write(table.concat(parts, "\t"), "\n")
end

--- Read a line from the terminal with line editing, running the loop while
--- the prompt waits: spawned tasks, timers and signal handlers go on. Returns
--- the line, or false at end of input. Ctrl-C at the prompt drops the line
--- being typed and shows a fresh prompt; other errors (SIGTERM) go up.
function M.read(prompt)
  local async = require "regsh.async"
  local reader = require("regsh.core.repl").reader()
  local started = false
  local function next_char()
    if not started then
      started = true
      reader:start(prompt)
    end
    async.await(reader)
    return reader:feed()
  end
  while true do
    local ok, line = pcall(next_char)
    if ok then
      if line ~= nil then return line end
    else
      reader:abandon()
      started = false
      if line ~= "interrupted!" then error(line, 0) end
    end
  end
end

return M
