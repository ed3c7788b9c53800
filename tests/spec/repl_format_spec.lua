-- The REPL's policy, in process: the printer (regsh.repl.format), which
-- lines the history keeps out (regsh.repl.secret_rule), `=` and `:commands`
-- (regsh.repl.rewrite) and Tab's candidates (regsh.repl.complete).
local format = require "regsh.repl.format"
local repl = require "regsh.repl"
local complete = require "regsh.repl.complete"

describe("the REPL printer", function()
  it("escapes control characters of strings, keys and __tostring text from a server", function()
    local from_server = {["key\27]0;title\7"] = "v\27[2J\r\n", note = "caf\xc3\xa9 \xff"}
    local text = format.format(from_server, {colour = false})
    assert.is_nil(text:find("[\0-\9\11-\31\127]"))   -- no control but the newlines
    assert.matches('["key\\x1b]0;title\\x07"] = "v\\x1b[2J\\x0d\\x0a"', text, 1, true)
    assert.matches('note = "café \\xff"', text, 1, true)
    local obj = setmetatable({}, {__tostring = function() return "evil\27[31m" end})
    assert.equal("evil\\x1b[31m", format.format(obj, {colour = false}))
  end)

  it("escapes tag listings too, and aligns their columns with human sizes and times", function()
    local now = os.time()
    local tags = {
      {name = "v1", digest = "sha256:aa", size = 1536,
       created = require("regsh.time").format_rfc3339(now - 3 * 86400)},
      {name = "bad\27[1m", digest = "sha256:bbbb", size = 10},
    }
    local text = format.format(tags, {colour = false})
    assert.equal(table.concat({
      "TAG         DIGEST       SIZE     CREATED",
      "v1          sha256:aa    1.5 KiB  3 days ago",
      "bad\\x1b[1m  sha256:bbbb  10 B",
    }, "\n"), (text:gsub(" +\n", "\n"):gsub(" +$", "")))
  end)

  it("marks cycles, cuts long tables and deep nesting", function()
    local t = {}
    t.me = t
    assert.equal("{\n  me = <cycle>,\n}", format.format(t, {colour = false}))
    local deep = {}
    local at = deep
    for _ = 1, 10 do at.next = {}; at = at.next end
    assert.matches("{...}", format.format(deep, {colour = false}), 1, true)
    local shared = {1}
    local text = format.format({a = shared, b = shared}, {colour = false})
    assert.is_nil(text:find("cycle", 1, true))  -- shared is not a cycle
  end)

  it("colours only when asked, and NO_COLOR turns it off", function()
    assert.matches("\27%[32m\"x\"\27%[0m", format.format("x", {colour = true}))
    assert.equal('"x"', format.format("x", {colour = false}))
    local out = require("support.cmd").regsh({"-e",
      "print(require('regsh.repl.format').use_colour())"}, nil, {NO_COLOR = ""})
    assert.equal("false\n", out)
  end)

  it("shows a manifest's raw bytes as their size", function()
    local m = {digest = "sha256:ab", media_type = "x", raw = string.rep("z", 300), size = 300}
    assert.matches("raw = <300 bytes>", format.format(m, {colour = false}), 1, true)
  end)
end)

describe("the REPL history", function()
  it("keeps out lines that set passwords, tokens or secrets, and login calls", function()
    for _, line in ipairs{
      'password = "hunter2"',
      'reg = regsh.registry.open(h, {username = "u", password = pw})',
      'local my_token = "abc"',
      'opts.client_secret = s',
      'headers = {Authorization = "Basic eDp5"}',
      'h = {["X-Api-Key"] = k, api_key = k}',
      'body = \'{"password": "x"}\'',
      'regsh.registry.login("host", "u", "p")',
      'x = "Bearer eyJhbGciOi"',
      'regsh.proc.run{"regsh", "login", "--password", "p"}',
    } do
      assert.is_string(repl.secret_rule(line), line)
    end
  end)

  it("saves ordinary lines, comparisons and mentions of the words", function()
    for _, line in ipairs{
      "reg:tags('app')",
      "if password == nil then print('no password') end",
      "print(token_count)",
      "x = 1",
      "help(regsh.registry.login)",
    } do
      assert.is_nil(repl.secret_rule(line), line)
    end
  end)

  it("lives in $XDG_STATE_HOME/regsh/history, else ~/.local/state", function()
    local cmd = require "support.cmd"
    local code = "print(require('regsh.repl').history_path())"
    assert.equal("/st/regsh/history\n",
      (cmd.regsh({"-e", code}, nil, {XDG_STATE_HOME = "/st", HOME = "/h"})))
    assert.equal("/h/.local/state/regsh/history\n",
      (cmd.regsh({"-e", code}, nil, {XDG_STATE_HOME = "", HOME = "/h"})))
  end)
end)

describe("the REPL's first-line rewrites", function()
  it("turns =expr into return, :commands into calls, :quit into the end", function()
    assert.equal("return 1 + 1", repl.rewrite("=1 + 1"))
    assert.equal("x = 1", repl.rewrite("x = 1"))
    assert.equal("::top::", repl.rewrite("::top::"))
    assert.is_false(repl.rewrite(":quit"))
    assert.matches("command%(\"load\", \"a b.lua\"%)", repl.rewrite(":load a b.lua"))
    assert.matches("not a command", repl.rewrite(":nope"), 1, true)
  end)
end)

describe("Tab's candidates", function()
  it("complete globals, fields and methods with their common prefix", function()
    rawset(_G, "zz_client", regsh.registry.open("127.0.0.1:1"))
    local c = complete.complete("zz_client:ta", "zz_client:ta")
    assert.same({"zz_client:tags(", "zz_client:tags_of("}, {c[1], c[2]})
    assert.equal("zz_client:tags", c.prefix)
    c = complete.complete("regsh.regi", "regsh.regi")
    assert.same({"regsh.registry"}, {c[1]})
    c = complete.complete("zz_cl", "zz_cl")
    assert.equal("zz_client", c.prefix)
    rawset(_G, "zz_client", nil)
  end)

  it("complete file names inside a string", function()
    local c = complete.complete('dofile("tests/spec/repl_form', "tests/spec/repl_form")
    assert.same({"tests/spec/repl_format_spec.lua"}, {c[1]})
  end)
end)
