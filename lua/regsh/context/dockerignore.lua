-- regsh.context.dockerignore: Docker's .dockerignore rules, as the docker
-- CLI and ACR's CLI apply them to a directory context: one pattern a line,
-- `#` comments, `!` exceptions, `*` `?` `**` and character classes, a
-- leading `/` stripped, paths cleaned; the last matching line decides, and a
-- pattern that matches a directory matches everything under it.
local regex = require "regsh.regex"

local M = {}

-- filepath.Clean for slash-separated relative paths: no "." components, no
-- repeated slashes, "a/../b" folded; a leading "/" kept (stripped later).
local function clean(path)
  local absolute = path:sub(1, 1) == "/"
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." then
      if #parts > 0 and parts[#parts] ~= ".." then parts[#parts] = nil
      elseif not absolute then parts[#parts + 1] = ".." end
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  local out = table.concat(parts, "/")
  if absolute then return "/" .. out end
  return out == "" and "." or out
end
M.clean = clean

-- A pattern as a PCRE2 regex, the way Docker's patternmatcher builds it:
-- `**` any number of directories (none included), `*` and `?` within one
-- name, `\` escapes the next character, `[...]` passed on as a class.
local function to_regex(pattern)
  local out, i, n = {"^"}, 1, #pattern
  while i <= n do
    local ch = pattern:sub(i, i)
    if ch == "*" then
      if pattern:sub(i + 1, i + 1) == "*" then
        i = i + 1
        if pattern:sub(i + 1, i + 1) == "/" then i = i + 1 end
        if i == n then out[#out + 1] = ".*"
        else out[#out + 1] = "(.*/)?" end
      else
        out[#out + 1] = "[^/]*"
      end
    elseif ch == "?" then
      out[#out + 1] = "[^/]"
    elseif ch == "\\" then
      i = i + 1
      out[#out + 1] = "\\" .. pattern:sub(i, i)
    elseif ch:match("[%.%+%(%)|{}%$]") then
      out[#out + 1] = "\\" .. ch
    else
      out[#out + 1] = ch
    end
    i = i + 1
  end
  out[#out + 1] = "$"
  return table.concat(out)
end

--- parse(text, name) -> matcher | nil, err, "ECONTEXT": the lines of a
--- .dockerignore. name says which file (for a bad pattern's message).
function M.parse(text, name)
  local patterns = {}
  local lineno = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    lineno = lineno + 1
    if lineno == 1 then line = line:gsub("^\239\187\191", "") end  -- a UTF-8 BOM
    line = line:gsub("\r$", "")
    if line:sub(1, 1) ~= "#" then
      line = line:match("^%s*(.-)%s*$")
      if line ~= "" then
        local exception = line:sub(1, 1) == "!"
        if exception then line = line:sub(2):match("^%s*(.-)%s*$") end
        if line ~= "" then
          line = clean(line)
          if #line > 1 and line:sub(1, 1) == "/" then line = line:sub(2) end
          local re, err = regex.compile(to_regex(line))
          if not re then
            return nil, ("ECONTEXT: %s:%d: bad pattern '%s': %s"):format(name, lineno, line,
              err:gsub("^EREGEX: ", "")), "ECONTEXT"
          end
          patterns[#patterns + 1] = {re = re, exception = exception, text = line}
          if exception then patterns.exceptions = true end
        end
      end
    end
  end
  return setmetatable({patterns = patterns}, {__index = M})
end

--- matcher:excluded(path) -> whether the relative path is left out: the
--- last pattern that matches the path or one of its parent directories
--- decides (Docker's MatchesOrParentMatches).
function M.excluded(matcher, path)
  local parents = {}
  do
    local at = 1
    while true do
      local slash = path:find("/", at, true)
      if not slash then break end
      parents[#parents + 1] = path:sub(1, slash - 1)
      at = slash + 1
    end
  end
  local matched = false
  for _, p in ipairs(matcher.patterns) do
    -- an exception only matters once something matched, a pattern only before
    if p.exception == matched then
      local hit = p.re:test(path)
      for i = 1, #parents do
        if hit then break end
        hit = p.re:test(parents[i])
      end
      if hit then matched = not p.exception end
    end
  end
  return matched
end

--- matcher:has_exceptions() -> whether a `!` line exists: then an excluded
--- directory must still be walked, since something inside may come back.
function M.has_exceptions(matcher)
  return matcher.patterns.exceptions == true
end

return M
