-- regsh.regex: PCRE2 regular expressions (src/regex.c) for every pattern a
-- user types: --filter, policies. Lua patterns stay available to scripts
-- through string.find; this is the one syntax of the command line.
local core = require "regsh.core.regex"

local M = {}

--- compile(pattern [, flags]) -> regex | nil, "EREGEX: pattern: message at offset N", "EREGEX"
--- flags: i caseless, m multiline, s dotall, x extended, u UTF-8,
--- a anchored at the start, f full match (anchored at both ends).
M.compile = core.compile

--- The PCRE2 library's version, e.g. "10.42 2022-12-11".
M.pcre2_version = core.pcre2_version

--- A pattern matching s literally.
function M.escape(s)
  if type(s) ~= "string" then
    error("bad argument #1 to 'escape' (string expected, got " .. type(s) .. ")", 2)
  end
  return (s:gsub("[%^%$%.%[%]%|%(%)%?%*%+%{%}\\/%-#%s]", "\\%0"))
end

--- test(pattern, s [, flags]): compile and test in one call (for one-off use).
--- true | false | nil, err, "EREGEX"
function M.test(pattern, s, flags)
  local re, err, code = core.compile(pattern, flags)
  if not re then return nil, err, code end
  return re:test(s)
end

return M
