-- contract.lua: the failure shapes the fuzz drivers accept (tests/fuzz/*.lua).
-- A driver raises when a parser breaks its contract; lua_target.c turns that
-- into a crash. Misuse raises, expected failures return nil, "CODE: ...", CODE.
local errors = require "regsh.errors"

local M = {input = ""}

local function show(s)
  s = tostring(s)
  if #s > 300 then s = s:sub(1, 300) .. "..." end
  return string.format("%q", s)
end
M.show = show

--- call(what, fn, ...) -> fn's results; a raise is a violation
function M.call(what, fn, ...)
  local r = table.pack(pcall(fn, ...))
  if not r[1] then error(what .. " raised: " .. tostring(r[2]), 0) end
  return table.unpack(r, 2, r.n)
end

--- result(what, codes, v, err, code) -> v, or nil for a failure tuple whose
--- code is one of codes ({ETASK = true}), listed in regsh.errors, matching its
--- message's prefix, and not an internal error
function M.result(what, codes, v, err, code, ...)
  if v ~= nil then return v, err, code, ... end
  if type(err) ~= "string" or type(code) ~= "string" then
    error(string.format("%s: a failure without a message and code (%s, %s)", what, show(err),
      show(code)), 0)
  end
  if not codes[code] or not errors.codes[code] then
    error(string.format("%s: unexpected code %s: %s", what, code, show(err)), 0)
  end
  if err:sub(1, #code + 2) ~= code .. ": " then
    error(string.format("%s: message does not start with its code %s: %s", what, code,
      show(err)), 0)
  end
  if err:find("internal error", 1, true) and not M.input:find("internal error", 1, true) then
    error(string.format("%s: internal error: %s", what, show(err)), 0)
  end
  return nil
end

--- check(what, fn, codes, ...) = result(what, codes, call(what, fn, ...))
function M.check(what, fn, codes, ...)
  return M.result(what, codes, M.call(what, fn, ...))
end

--- driver(fn) -> the function a driver returns: fn(input), input kept for the checks
function M.driver(fn)
  return function(input)
    M.input = input
    return fn(input)
  end
end

function M.expect(cond, what, ...)
  if not cond then error(string.format(what, ...), 0) end
end

return M
