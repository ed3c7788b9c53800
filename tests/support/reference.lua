-- tests/support/reference.lua: run the `lua` examples of a reference page
-- (docs/reference/*.md) the way a user runs a script, and check what they
-- print against their `--> value` comments (conventions: docs/reference/README.md).
-- The specs of tests/spec/reference_spec.lua call this for every page.
local cmd = require "support.cmd"
local registry = require "support.registry"

local M = {}

-- The address the examples use for "a registry"; a fresh one replaces it.
M.EXAMPLE_HOST = "127.0.0.1:5000"

-- Marks a captured print on the example's stdout: MARK <line> <text>.
local MARK = "\1regsh-example "

-- Line 1 of the script (a page starts with its "# title", which is not code):
-- print writes MARK, the line of the outermost example frame that called it
-- (the statement that was running, even for a print inside a callback), and
-- the text with backslashes and newlines escaped. One line, so that every
-- other line of the script is the same line of the page.
local PRELUDE = "do local source = debug.getinfo(1, 'S').source; "
  .. "local function at() local line, level = 0, 3; while true do "
  .. "local info = debug.getinfo(level, 'Sl'); if not info then return line end; "
  .. "if info.source == source and info.currentline > 1 then line = info.currentline end; "
  .. "level = level + 1 end end; "
  .. "print = function(...) local parts = table.pack(...); "
  .. "for i = 1, parts.n do parts[i] = tostring(parts[i]) end; "
  .. "local text = table.concat(parts, '\\t', 1, parts.n):gsub('[\\\\\\n]', "
  .. "{['\\\\'] = '\\\\\\\\', ['\\n'] = '\\\\n'}); "
  .. "io.stdout:write(" .. string.format("%q", MARK) .. ", at(), ' ', text, '\\n') end end"

local function read(path)
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  return text
end

--- The runnable form of a page: its ```lua blocks at their own line numbers
--- (every other line blank), and the expectations {line, expected} of its
--- `-->` comments. A `-->` alone on its line expects the output of the
--- code line above it.
function M.parse(text)
  local lines, expectations = {}, {}
  local in_lua, blocks, last_code = false, 0, nil
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local n = #lines + 1
    if in_lua and line:match("^```%s*$") then
      in_lua, line = false, ""
    elseif in_lua then
      local code, expected = line:match("^(.-)%-%->%s?(.*)$")
      if code then
        local target = code:match("%S") and n or last_code
        assert(target, "line " .. n .. ": a --> comment with no code before it")
        expectations[#expectations + 1] = {line = target, expected = expected}
      end
      if (code or line):match("%S") and not (code or line):match("^%s*%-%-") then
        last_code = n
      end
    elseif line:match("^```lua%s*$") then
      in_lua, line, blocks, last_code = true, "", blocks + 1, nil
    else
      line = ""
    end
    lines[n] = line
  end
  assert(not in_lua, "a ```lua block is not closed")
  return {script = table.concat(lines, "\n"), expectations = expectations, blocks = blocks}
end

local function unescape(text)
  return (text:gsub("\\(.)", {["\\"] = "\\", n = "\n"}))
end

--- Whether printed text matches an expectation: runs of white space are one
--- space, and `…` or `...` stands for any text.
function M.matches(expected, printed)
  local function squeeze(s) return (s:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")) end
  expected, printed = squeeze(expected), squeeze(printed)
  local pattern = {}
  local i = 1
  while i <= #expected do
    local wild = expected:match("^…", i) or expected:match("^%.%.%.", i)
    if wild then
      pattern[#pattern + 1] = ".-"
      i = i + #wild
    else
      pattern[#pattern + 1] = expected:sub(i, i):gsub("%W", "%%%0")
      i = i + 1
    end
  end
  return printed:find("^" .. table.concat(pattern) .. "$") ~= nil
end

--- Run the examples of docs/reference/<page> in a new regsh process. If the
--- page uses M.EXAMPLE_HOST, a fresh empty registry stands in for it (and
--- for it in the expectations). Returns {blocks, expectations, printed
--- (line -> array of texts)}; raises naming the page and line of an example
--- that fails or prints something else than its `-->` comment says.
function M.run(page)
  local path = "docs/reference/" .. page
  local text = read(path)
  local server
  if text:find(M.EXAMPLE_HOST, 1, true) then
    server = registry.start()
    text = text:gsub(M.EXAMPLE_HOST:gsub("%p", "%%%0"), server.host)
  end
  local parsed = M.parse(text)
  assert(parsed.script:sub(1, 1) == "\n", path .. ": line 1 must be the page's title")
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(PRELUDE, parsed.script, "\n")
  f:close()
  -- a page whose examples never end fails in a minute instead of holding the suite
  local out, status, err = cmd.sh("timeout 60 " .. cmd.quote(cmd.bin) .. " " .. cmd.quote(script), "")
  os.remove(script)
  if status == 124 then err = err .. "\n(killed after 60 s: the examples did not end)" end
  if server then registry.stop(server) end
  err = err:gsub(script:gsub("%p", "%%%0"), path)  -- errors name the page, not the copy
  assert(status == 0, path .. ": the examples failed (exit " .. tostring(status) .. "):\n" .. err)
  local printed = {}
  for line, escaped in out:gmatch(MARK:gsub("%p", "%%%0") .. "(%d+) ([^\n]*)") do
    line = tonumber(line)
    printed[line] = printed[line] or {}
    table.insert(printed[line], unescape(escaped))
  end
  local wrong = {}
  for _, e in ipairs(parsed.expectations) do
    local got = table.concat(printed[e.line] or {}, ", ")
    if not printed[e.line] or not M.matches(e.expected, got) then
      wrong[#wrong + 1] = string.format("%s:%d: expected %q, printed %s", path, e.line,
        e.expected, printed[e.line] and string.format("%q", got) or "nothing")
    end
  end
  assert(#wrong == 0, table.concat(wrong, "\n"))
  return {blocks = parsed.blocks, expectations = #parsed.expectations, printed = printed}
end

return M
