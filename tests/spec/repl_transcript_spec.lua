-- The REPL without a terminal (`regsh -i < file`, `regsh repl < file`), the way
-- Lua's own suite tests `lua -i`: input piped in, prompts blanked, the
-- transcript compared. Bad input keeps the session.
local cmd = require "support.cmd"
local registry = require "support.registry"
local content = require "support.content"

local BLANK = "_PROMPT = '' _PROMPT2 = ''"

-- the session's stdout and stderr for input (prompts blanked, no banner)
local function transcript(input, args, env)
  local argv = {"-e", BLANK}
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = "-i"
  env = env or {}
  env.NO_COLOR = env.NO_COLOR or "1"
  local out, status, err = cmd.regsh(argv, input, env)
  return (out:gsub("^regsh [^\n]*\n", "")), status, err
end

describe("the REPL transcript", function()
  it("prints =expr and bare expressions, continues incomplete chunks, ends at :quit", function()
    local out, status = transcript(table.concat({
      "=1 + 1",
      "'a' .. 'b'",
      "local function f(n)",
      "  return n + 1",
      "end print(f(41))",
      "x = {",
      "  1,",
      "}",
      "=#x",
      ":quit",
      "print('not reached')",
    }, "\n") .. "\n")
    assert.equal(0, status)
    assert.equal('2\n"ab"\n42\n1\n', out)
  end)

  it("marks cycles, cuts long lists with a count and escapes control characters", function()
    local out = transcript(table.concat({
      "t = {name = 'loop'} t.self = t",
      "t",
      "big = {} for i = 1, 100 do big[i] = i end",
      "big",
      "{text = 'red\\27[31m\\n'}",
    }, "\n") .. "\n")
    assert.matches('{\n  name = "loop",\n  self = <cycle>,\n}', out, 1, true)
    assert.matches("  40,\n  ... (60 more)\n}", out, 1, true)
    assert.matches('text = "red\\x1b[31m\\x0a"', out, 1, true)
    assert.is_nil(out:find("\27", 1, true))
  end)

  it("keeps the session after a syntax error, an error in a task and in a coroutine", function()
    local out, status, err = transcript(table.concat({
      "x = = 1",
      "print('after the syntax error')",
      "regsh.spawn(function() error('boom in a task') end):wait()",
      "print('after the task')",
      "coroutine.wrap(function() local t = nil; return t.field end)()",
      "print('after the coroutine')",
    }, "\n") .. "\n")
    assert.equal(0, status)
    assert.matches("unexpected symbol near '='", err, 1, true)
    assert.matches("boom in a task\nstack traceback:\n", err, 1, true)
    assert.matches("attempt to index a nil value (local 't')", err, 1, true)
    assert.equal("after the syntax error\nafter the task\nafter the coroutine\n", out)
  end)

  it("reports a lost registry connection and goes on", function()
    local r = registry.start()
    local out, _, err = transcript(table.concat({
      "reg = regsh.registry.open('" .. r.host .. "', {retries = 0})",
      "=reg:ping()",
      "os.execute('kill " .. r.pid .. "; while kill -0 " .. r.pid .. " 2>/dev/null; do sleep 0.05; done')",
      "assert(reg:ping())",
      "print('still' .. ' here')",
    }, "\n") .. "\n")
    registry.stop(r)
    assert.matches("^true\n", out)
    assert.matches("ECONNREFUSED", err, 1, true)
    assert.matches("still here\n", out, 1, true)
  end)

  it("times with :time, loads with :load and answers unknown :commands", function()
    local file = cmd.temp_file("loaded_value = 41\nreturn 'loaded'\n")
    local out, _, err = transcript(table.concat({
      ":time 6 * 7",
      ":load " .. file,
      "=loaded_value + 1",
      ":load /no/such/file.lua",
      ":frobnicate",
      "print('after')",
    }, "\n") .. "\n")
    os.remove(file)
    assert.equal('42\n"loaded"\n42\nafter\n', out)
    assert.matches("^%d+%.%d%d%d s\n", err)
    assert.matches("cannot open /no/such/file.lua", err, 1, true)
    assert.matches(":frobnicate is not a command", err, 1, true)
  end)

  it("opens reg with repl --registry, prints tags as a table, plans and applies a purge", function()
    local r = registry.start()
    local reg = assert(regsh.registry.open(r.host))
    assert(content.push_image(reg, "web", "dev-1"))
    assert(content.push_image(reg, "web", "v1", {label = "other"}))
    local out, status, err = cmd.regsh({"repl", "--registry", r.host}, table.concat({
      "_PROMPT = '' _PROMPT2 = ''",
      "reg",
      "reg:tags('web')",
      ":plan {filter = {'web:^dev-'}, ago = '0d'}",
      ":apply",
      "=#reg:tags('web')",
    }, "\n") .. "\n", {NO_COLOR = "1", XDG_STATE_HOME = "/nonexistent"})
    registry.stop(r)
    assert.equal(0, status, err)
    assert.matches("regsh.registry (" .. r.host .. ")\nTAG\n", out, 1, true)
    assert.matches("\nv1\n", out, 1, true)
    assert.matches("web: 1 tags and 0 manifests to delete\n  untag   web:dev-1 ", out, 1, true)
    assert.matches("  tags = 1,\n}", out, 1, true)
    assert.matches("\n1\n$", out)
  end)

  it("refuses repl --registry with a malformed host, one line naming it", function()
    local _, status, err = cmd.regsh({"repl", "--registry", "bad host"}, "")
    assert.equal(1, status)
    assert.matches("^regsh repl: EREF: .*bad host", err)
    assert.equal(1, select(2, err:gsub("\n", "")))
  end)
end)

describe("help()", function()
  local help = require "regsh.repl.help"

  it("prints a function's section of the reference, the same text as the page", function()
    local out = transcript("help(regsh.registry.open)\nhelp(regsh.registry)\n"
      .. "reg = regsh.registry.open('127.0.0.1:1')\nhelp(reg.tags)\nhelp()\nhelp(print)\n")
    local page = cmd.read_file("docs/reference/registry.md")
    assert.matches("regsh.registry.open(host [, opts]) -> client | nil, message, code\n\n"
      .. "A client for one registry.", out, 1, true)
    assert.truthy(page:find("A client for one registry.", 1, true))
    assert.matches("regsh.registry: the registry client\n", out, 1, true)
    assert.matches("  client:tags(repository) -> entries | nil, message, code\n", out, 1, true)
    assert.matches("client:tags(repository) -> entries | nil, message, code\n\n"
      .. "The tags of a repository", out, 1, true)
    assert.matches("  repl.md ", out, 1, true)
    assert.matches("no help for ", out, 1, true)
  end)

  it("has text for every public function of regsh.registry and of its client", function()
    local missing = {}
    for name, value in pairs(regsh.registry) do
      if type(value) == "function" and not name:match("^_") and not help.text(value) then
        missing[#missing + 1] = "regsh.registry." .. name
      end
    end
    local client = getmetatable(regsh.registry.open("127.0.0.1:1")).__index
    for name, value in pairs(client) do
      if type(value) == "function" and not name:match("^_") and not help.text(value) then
        missing[#missing + 1] = "client:" .. name
      end
    end
    table.sort(missing)
    assert.same({}, missing)
  end)

  it("reads every reference page it lists, and lists every page", function()
    local p = assert(io.popen("ls docs/reference"))
    local pages = {}
    for name in p:lines() do pages[#pages + 1] = name end
    p:close()
    local listed = {}
    for _, page in ipairs(help.PAGES) do listed[#listed + 1] = page end
    table.sort(pages)
    table.sort(listed)
    assert.same(pages, listed)
  end)
end)
