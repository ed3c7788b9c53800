-- regsh.regex: PCRE2 compile errors, matching, captures, flags, the match
-- limit, closed handles; `regsh catalog --filter` with a regex.
local regex = require "regsh.regex"
local cmd = require "support.cmd"

describe("regsh.regex", function()
  it("reports a bad pattern with the pattern, PCRE2's message and the offset", function()
    for pattern, message in pairs({
      ["a)"] = "EREGEX: a): unmatched closing parenthesis at offset 1",
      ["x{2,1}"] = "EREGEX: x{2,1}: numbers out of order in {} quantifier at offset 5",
      ["*"] = "EREGEX: *: quantifier does not follow a repeatable item at offset 0",
    }) do
      local re, err, code = regex.compile(pattern)
      assert.is_nil(re)
      assert.equal("EREGEX", code)
      assert.equal(message, err)
    end
    -- the wording of this one differs between PCRE2 releases
    local _, err = regex.compile("(?<=a+)b")
    assert.matches("^EREGEX: %(%?<=a%+%)b: .*lookbehind.* at offset 0$", err)
  end)

  it("searches unless anchored, and anchors at the start (a) or both ends (f)", function()
    local plain = assert(regex.compile("web"))
    local start = assert(regex.compile("app/w", "a"))
    local full = assert(regex.compile("app/web|app/api", "f"))
    assert.is_true(plain:test("app/web-2"))
    assert.is_true(start:test("app/web"))
    assert.is_false(start:test("x/app/web"))
    assert.is_true(full:test("app/api"))
    assert.is_false(full:test("app/api2"))
    assert.is_false(full:test("my/app/web"))
  end)

  it("takes the case, multiline, dotall, extended and UTF-8 flags", function()
    assert.is_true(regex.compile("^b$", "m"):test("a\nb\nc"))
    assert.is_false(regex.compile("^b$"):test("a\nb\nc"))
    assert.is_true(regex.compile("a.c", "s"):test("a\nc"))
    assert.is_true(regex.compile("a b # comment", "x"):test("ab"))
    assert.is_true(regex.compile("^.$", "u"):test("é"))
    assert.is_false(regex.compile("^.$"):test("é"))
    assert.is_true(regex.compile("DEV", "i"):test("dev-1"))
    assert.has_error(function() regex.compile("a", "z") end,
      "bad argument #2 to 'compile' (unknown flag 'z')")
  end)

  it("finds with init like string.find, captures unset groups as false", function()
    local re = assert(regex.compile("(a)|(b)"))
    assert.same({3, 3, false, "b"}, {re:find("xxb")})
    assert.same({2, 2, false, "b"}, {re:find("abca", 2)})
    assert.same({4, 4, "a", false}, {re:find("abca", -1)})
    assert.is_nil(re:find("abca", 10))
    assert.same({1, 0}, {regex.compile(""):find("abc")})
    assert.same({1, 3}, {regex.compile("a.c"):find("a\0c")})  -- NUL bytes are ordinary
  end)

  it("matches like string.match and iterates like string.gmatch", function()
    assert.equal("v12", regex.compile("v\\d+"):match("app:v12-rc"))
    assert.is_nil(regex.compile("v\\d+"):match("latest"))
    local pairs_seen = {}
    for k, v in regex.compile("(\\w+)=(\\w+)"):gmatch("a=1, b=2") do
      pairs_seen[#pairs_seen + 1] = k .. v
    end
    assert.same({"a1", "b2"}, pairs_seen)
    local lua, ours = {}, {}
    for w in ("ab cd"):gmatch("%w*") do lua[#lua + 1] = w end
    for w in regex.compile("\\w*"):gmatch("ab cd") do ours[#ours + 1] = w end
    assert.same(lua, ours)
  end)

  it("fails instead of hanging on catastrophic backtracking", function()
    local re = assert(regex.compile("(a+)+$"))
    local subject = string.rep("a", 64) .. "b"
    for _, method in ipairs({"test", "find", "match"}) do
      local v, err, code = re[method](re, subject)
      assert.is_nil(v)
      assert.equal("EREGEX", code)
      assert.equal("EREGEX: match limit exceeded by (a+)+$ (simplify the pattern)", err)
    end
    assert.has_error(function() for _ in re:gmatch(subject) do end end,
      "EREGEX: match limit exceeded by (a+)+$ (simplify the pattern)")
    assert.is_true(re:test(string.rep("a", 64)))  -- a matching subject is quick
  end)

  it("raises on misuse and on a closed regex", function()
    assert.has_error(function() regex.compile(nil) end)
    local re = assert(regex.compile("x"))
    assert.has_error(function() re:test(nil) end)
    assert.has_error(function() re.test({}, "x") end)
    assert.equal("regsh.regex (x)", tostring(re))
    re:close()
    re:close()  -- idempotent
    assert.equal("regsh.regex (x) closed", tostring(re))
    assert.has_error(function() re:test("x") end, "attempt to use a closed regex")
    do local scoped <close> = assert(regex.compile("y")); assert.is_true(scoped:test("y")) end
    assert.has_error(function() regex.escape(1) end)
  end)

  it("escapes every metacharacter", function()
    local text = "a.b*c+d?e(f)g[h]i{j}k|l^m$n\\o/p-q#r s"
    assert.same({1, #text}, {regex.compile(regex.escape(text)):find(text)})
    assert.is_false(regex.compile(regex.escape("a.c")):test("abc"))
  end)
end)

describe("regsh catalog --filter", function()
  local support = require "support.registry"
  local server

  lazy_setup(function()
    server = support.start()
    local reg = assert(require("regsh.registry").open(server.host, {log = function() end}))
    for _, repo in ipairs({"team/web", "team/tmp-1", "other/web"}) do
      require("support.content").push_image(reg, repo, "v1")
    end
  end)

  lazy_teardown(function() support.stop(server) end)

  it("keeps the names a PCRE2 regex finds, lookarounds included", function()
    local out, status, err = cmd.regsh({"catalog", server.host, "--filter", "^team/(?!tmp)"})
    assert.equal(0, status, err)
    assert.equal("team/web\n", out)
    out, status = cmd.regsh({"catalog", server.host, "--filter", "web$", "-o", "json"})
    assert.equal(0, status)
    assert.same({"other/web", "team/web"}, require("regsh.json").decode(out))
  end)

  it("exits 2 with one line naming a bad pattern, before any request", function()
    -- port 1 refuses connections: a request would end in ECONNREFUSED and exit 1
    local out, status, err = cmd.regsh({"catalog", "127.0.0.1:1", "--filter", "["})
    assert.equal(2, status)
    assert.equal("", out)
    assert.equal("regsh catalog: EREGEX: [: missing terminating ] for character class "
      .. "at offset 1\n", err)
  end)
end)
