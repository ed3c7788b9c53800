-- Every reference page's `lua` examples run as a script against a fresh
-- registry where they need one, and print what their `--> value` comments
-- say (tests/support/reference.lua; conventions: docs/reference/README.md).
local reference = require "support.reference"

local function pages()
  local p = assert(io.popen("ls docs/reference"))
  local list = {}
  for name in p:lines() do
    if name:match("%.md$") then list[#list + 1] = name end
  end
  p:close()
  return list
end

describe("the reference pages #disk", function()
  local list = pages()

  it("are all found", function()
    assert.is_true(#list >= 9, table.concat(list, " "))
  end)

  for _, page in ipairs(list) do
    it("run the examples of " .. page .. " and print what they say", function()
      local result = reference.run(page)
      assert.is_true(result.blocks >= 1, page .. " has no lua example")
    end)
  end
end)

describe("the reference example harness", function()
  it("compares printed text with --> comments: white space loose, … and ... for any text", function()
    assert.is_true(reference.matches("1   2", "1\t2"))
    assert.is_true(reference.matches("hello world", "hello world"))
    assert.is_true(reference.matches("sha256:…  …", "sha256:ab12\t13"))
    assert.is_true(reference.matches("would delete x/app@sha256:...", "would delete x/app@sha256:ff"))
    assert.is_false(reference.matches("1 2", "1 3"))
    assert.is_false(reference.matches("v1", "v1 v2"))
    assert.is_false(reference.matches("a.c", "abc"))  -- no Lua pattern magic
  end)

  it("keeps page line numbers and ties each --> to its code line", function()
    local parsed = reference.parse(table.concat({
      "# title",
      "```lua",
      "print(1)   --> 1",
      "-- a comment",
      "f()",
      "--> from f",
      "```",
      "text --> not code",
      "```",
      "print(2) --> not lua either",
      "```",
    }, "\n"))
    assert.equal(1, parsed.blocks)
    assert.same({{line = 3, expected = "1"}, {line = 5, expected = "from f"}}, parsed.expectations)
    assert.equal(table.concat({"", "", "print(1)   --> 1", "-- a comment", "f()", "--> from f",
      "", "", "", "", ""}, "\n"), parsed.script)
  end)

  it("fails naming the page line when an example prints something else", function()
    local ok, err = pcall(reference.run, "../../tests/fixtures/reference-wrong.md")
    assert.is_false(ok)
    assert.matches('reference%-wrong%.md:4: expected "3", printed "4"', tostring(err))
  end)
end)
