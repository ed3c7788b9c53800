-- regsh.errors: the closed list of error codes. Every code the sources can
-- return is in the list, docs/reference/errors.md describes exactly the
-- listed codes, and what the registry client retries follows the list.
local errors = require "regsh.errors"
local retry = require "regsh.registry.retry"

local function lines_of(path)
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  return text:gmatch("([^\n]*)\n?")
end

local function files(command)
  local p = assert(io.popen(command))
  local list = {}
  for path in p:lines() do list[#list + 1] = path end
  p:close()
  table.sort(list)
  return list
end

-- A code is an E-word that is a whole quoted string ("EHOST", 'EHOST') or
-- starts a quoted message ("EHOST: ..."); other words in messages do not count.
local CODE_PATTERNS = {
  [["(E[%u%d]+)"]], [['(E[%u%d]+)']], [["(E[%u%d]+): ]], [['(E[%u%d]+): ]],
}

local function codes_in(line)
  local found = {}
  for _, pattern in ipairs(CODE_PATTERNS) do
    for code in line:gmatch(pattern) do found[#found + 1] = code end
  end
  return found
end

-- "path:line: CODE" for each code that extract(line) finds in the files and
-- the list lacks; and how many codes it found in all.
local function unlisted(paths, extract)
  local unknown, seen = {}, 0
  for _, path in ipairs(paths) do
    local n = 0
    for line in lines_of(path) do
      n = n + 1
      for _, code in ipairs(extract(line)) do
        seen = seen + 1
        if not errors.is_code(code) then
          unknown[#unknown + 1] = string.format("%s:%d: %s", path, n, code)
        end
      end
    end
  end
  return unknown, seen
end

describe("the list of error codes", function()
  it("has every code the sources use (src/, lua/, policies/, scripts/examples/)", function()
    local sources = files("find src lua policies scripts/examples -type f "
      .. "\\( -name '*.c' -o -name '*.h' -o -name '*.lua' \\) ! -path lua/regsh/errors.lua")
    assert.is_true(#sources > 40, #sources .. " source files")
    local unknown, seen = unlisted(sources, codes_in)
    assert.is_true(seen > 100, "found only " .. seen .. " code literals: is the scan broken?")
    assert.same({}, unknown)
  end)

  it("tells codes from other words", function()
    assert.same({"EREF"}, codes_in([[return nil, "EREF: bad", x]]))
    assert.same({"EHOST", "EIO"}, codes_in([[if code == "EHOST" or c == 'EIO' then]]))
    assert.same({}, codes_in([[error("End of input: EOF reached"); x = "EOF here"]]))
  end)

  it("and docs/reference/errors.md name the same codes with the same retry rule", function()
    local documented, problems = {}, {}
    for line in lines_of("docs/reference/errors.md") do
      local code, retried = line:match("^| `(E[%u%d]+)` |.*| (%a+) |$")
      if code then
        if documented[code] then problems[#problems + 1] = code .. " twice" end
        documented[code] = true
        if not errors.is_code(code) then
          problems[#problems + 1] = code .. " is documented but not in lua/regsh/errors.lua"
        elseif (retried == "yes") ~= errors.retryable(code) then
          problems[#problems + 1] = code .. ": the page says retried " .. retried
        end
      end
    end
    for code in pairs(errors.codes) do
      if not documented[code] then
        problems[#problems + 1] = code .. " is missing from docs/reference/errors.md"
      end
    end
    table.sort(problems)
    assert.same({}, problems)
  end)

  it("is the only source of the codes the documentation mentions (`ECODE`)", function()
    local unknown, seen = unlisted(files("find docs -name '*.md'"), function(line)
      local found = {}
      for code in line:gmatch("`(E[%u%d]+)`") do found[#found + 1] = code end
      return found
    end)
    assert.is_true(seen > 50, "found only " .. seen .. " codes in docs/")
    assert.same({}, unknown)
  end)
end)

describe("regsh.errors", function()
  it("gives each code a meaning and raises for a code not in the list", function()
    for code, entry in pairs(errors.codes) do
      assert.matches("^E[%u%d]+$", code)
      assert.equal(entry[1], errors.meaning(code))
      assert.is_true(#entry[1] > 10, code)
    end
    assert.equal("no such file or directory", errors.meaning("ENOENT"))
    assert.has_error(function() errors.meaning("ESEND") end,
      "bad argument #1 to 'meaning' (unknown error code 'ESEND')")
  end)

  it("calls only the transient transport failures retryable", function()
    local transient = {}
    for code in pairs(errors.codes) do
      if errors.retryable(code) then transient[#transient + 1] = code end
    end
    table.sort(transient)
    assert.same({"ECONNREFUSED", "ECONNRESET", "ETIMEDOUT"}, transient)
    assert.is_false(errors.retryable("ESEND"))
    assert.is_false(errors.retryable(nil))
  end)

  it("strips one leading code from a message", function()
    assert.equal("token service x: down", errors.detail("ECONNREFUSED: token service x: down"))
    assert.equal("EIO: inner", errors.detail("EHTTP: EIO: inner"))
    assert.equal("no code here: x", errors.detail("no code here: x"))
  end)

  it("is reachable as regsh.errors", function()
    assert.equal(errors, regsh.errors)
    assert.is_true(regsh.errors.is_code("EHOST"))
    assert.is_false(regsh.errors.is_code("EOF"))
  end)
end)

describe("the registry retry policy", function()
  it("retries exactly the transient codes: not EHOST, ETLS, EMFILE or ETOOBIG", function()
    local p = retry.new()
    for code in pairs(errors.codes) do
      assert.equal(errors.retryable(code), p:retryable(code), code)
    end
    for _, code in ipairs({"EHOST", "ETLS", "EMFILE", "ETOOBIG", "ENOTFOUND", "EPIPE"}) do
      assert.is_false(p:retryable(code), code)
    end
    assert.is_true(p:retryable("ECONNRESET"))
  end)
end)
