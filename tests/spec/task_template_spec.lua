-- regsh.task.template: the Go text/template subset of ACR task files. The
-- expected texts are what Go's text/template (with Sprig and ACR's
-- missingkey=zero + "<no value>" stripping) prints for the same input.
local template = require "regsh.task.template"
local yaml = require "regsh.yaml"

local data = {
  Run = {ID = "ca1", Registry = "myreg.azurecr.io", RegistryName = "myreg", Date = "20261130-101500z",
    Commit = "ABC123", Branch = "main", OS = "linux", Architecture = "amd64", TaskName = ""},
  Values = {mysecret = "hush", n = 3, f = 1.5, list = {"a", "b", "c"}, m = {z = 1, a = 2},
    ["a.b"] = "dotted", empty = "", zero = 0, yes = true},
  Secrets = {sampleSecret = "s3cr3t"},
}
data.Build = data.Run

local function render(text, d)
  return template.render(text, d == nil and data or d, {name = "acb.yaml"})
end

local function renders(expected, text, d)
  local out, err = render(text, d)
  assert.equal(expected, out, "rendering " .. text .. ": " .. tostring(err))
end

local function fails(pattern, text, d)
  local out, err, code = render(text, d)
  assert.is_nil(out, "expected " .. text .. " to fail, got " .. tostring(out))
  assert.equal("ETEMPLATE", code)
  assert.matches(pattern, err, 1, true)
end

describe("regsh.task.template", function()
  it("renders ACR's real uses", function()
    renders("aHVzaA==", "{{.Values.mysecret | b64enc}}")
    renders("czNjcjN0", "{{.Secrets.sampleSecret | b64enc}}")
    renders("bGl0ZXJhbA==", '{{"literal" | b64enc}}')
    renders("CA1", "{{.Run.ID | upper}}")
    renders("abc123", "{{.Run.Commit | lower}}")
    renders("ca1", "{{.Build.ID}}")
    renders("myreg.azurecr.io/app:ca1", "{{.Run.Registry}}/app:{{.Run.ID}}")
    renders("dotted", '{{index .Values "a.b"}}')
  end)

  it("renders a folded scalar of a task file, then YAML reads it", function()
    local text = "steps:\n  - build: >\n      -t {{.Run.Registry}}/hello:{{.Run.ID}}\n"
      .. "      --build-arg X={{.Values.missing}}\n      .\n"
    local out = assert(render(text))
    local task = assert(yaml.decode(out))
    assert.equal("-t myreg.azurecr.io/hello:ca1 --build-arg X= .\n", task.steps[1].build)
  end)

  it("renders undefined values as empty, but a field of a missing map fails as in Go", function()
    renders("[]", "[{{.Values.nope}}]")
    renders("[]", "[{{.Nope}}]")
    renders("", "{{.Values.nope | b64enc}}")       -- ACR's nil-safe b64enc
    renders("x", "{{.Values.nope | default \"x\"}}")
    renders("[]", "[<no value>]")                   -- ACR strips the literal too
    fails("acb.yaml:1: at <.Values.a.b>: nil pointer evaluating interface {}.b", "{{.Values.a.b}}")
    fails("acb.yaml:2: ", "x\n{{.Values.nope.deeper}}")
    fails("can't evaluate field x in type string", "{{.Run.ID.x}}")
    -- a nil given to a function that wants a string is Go's type error
    fails("wrong type for value; expected string; got interface {}", "{{.Values.nope | upper}}")
  end)

  it("trims around {{- and -}} and drops comments", function()
    renders("aca1b", "a  \n {{- .Run.ID -}} \n\t b")
    renders("a -3 b", "a {{-3}} b")
    renders("xy", "{{/* a comment\nover lines */}}x{{- /* c */ -}}  y")
    fails("acb.yaml:1: comment ends before closing delimiter", "{{/* c */ x}}")
    fails("unclosed comment", "{{/* c ")
  end)

  it("evaluates if / else if / else, with and range like Go", function()
    renders("yes", '{{if eq .Run.ID "ca1"}}yes{{else}}no{{end}}')
    renders("b", "{{if false}}a{{else if .Values.n}}b{{else}}c{{end}}")
    renders("c", "{{if .Values.empty}}a{{else if .Values.zero}}b{{else}}c{{end}}")
    renders("2", "{{with .Values.m}}{{.a}}{{end}}")
    renders("none", "{{with .Values.nope}}x{{else}}none{{end}}")
    renders("other", "{{with .Values.nope}}x{{else with .Values.n}}other{{end}}")
    renders("0=a 1=b 2=c ", "{{range $i, $v := .Values.list}}{{$i}}={{$v}} {{end}}")
    renders("a:2,z:1,", "{{range $k, $v := .Values.m}}{{$k}}:{{$v}},{{end}}")   -- sorted keys
    renders("abc", "{{range .Values.list}}{{.}}{{end}}")
    renders("empty", "{{range .Values.nope}}x{{else}}empty{{end}}")
    renders("a", '{{range .Values.list}}{{if eq . "b"}}{{break}}{{end}}{{.}}{{end}}')
    renders("ac", '{{range .Values.list}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}')
    fails("range can't iterate over 3", "{{range .Values.n}}{{end}}")
  end)

  it("keeps variables in scope as Go does", function()
    renders("ca1 myreg.azurecr.io", "{{$x := .Run.ID}}{{$x}} {{$.Run.Registry}}")
    renders("b", '{{$x := "a"}}{{$x = "b"}}{{$x}}')
    renders("ca1", "{{with .Values.m}}{{$.Run.ID}}{{end}}")
    renders("3", "{{if $n := .Values.n}}{{$n}}{{end}}")
    fails('undefined variable "$n"', "{{if $n := .Values.n}}{{end}}{{$n}}")
    fails('undefined variable "$y"', "{{$y = 1}}")
  end)

  it("has Go's comparison, logic and len", function()
    renders("true false true true", "{{eq 1 1}} {{ne 1 1}} {{lt 1 2}} {{ge .Values.n 3}}")
    renders("true", '{{eq .Run.OS "windows" "linux"}}')
    renders("false", '{{eq .Values.nope "x"}}')            -- nil equals only nil
    renders("big", "{{if and .Values.n (gt .Values.n 2)}}big{{end}}")
    renders("3", "{{or .Values.empty .Values.zero .Values.n}}")
    renders("0", "{{and .Values.n .Values.zero .Values.nope.never}}")   -- and stops at the first false
    renders("true", "{{not .Values.empty}}")
    renders("3 3", "{{len .Values.list}} {{len .Run.ID}}")
    fails("incompatible types for comparison", '{{eq 1 "1"}}')
    fails("len of nil pointer", "{{len .Values.nope}}")
    fails("wrong number of args for upper: want 1 got 2", '{{upper "a" "b"}}')
  end)

  it("prints values as fmt does, and printf's verbs", function()
    renders("[a b c] map[a:2 z:1] 1.5 1e+06 123456 true", "{{.Values.list}} {{.Values.m}} {{.Values.f}} {{1e6}} {{123456.0}} {{.Values.yes}}")
    renders('ca1-3-"ca1"-[a b c]-0x1f-  7', '{{printf "%s-%d-%q-%v-%#x-%3d" .Run.ID .Values.n .Run.ID .Values.list 31 7}}')
    renders("1.50 %!d(string=x) %!s(MISSING)", '{{printf "%.2f %d %s" .Values.f "x"}}')
    renders("a%!(EXTRA int=1)", '{{printf "a" 1}}')
    renders("ca1-x", '{{.Run.ID | printf "%s-x"}}')
    renders("97", "{{'a'}}")
    renders("a\tb 5", '{{"a\\tb"}} {{0x5}}')
    renders("raw\\n", "{{`raw\\n`}}")
  end)

  it("has the Sprig functions with Sprig's argument order", function()
    renders("myreg-azurecr-io", '{{replace "." "-" .Run.Registry}}')
    renders("dflt 3", '{{.Values.nope | default "dflt"}} {{.Values.n | default 7}}')
    renders('"ca1" "a\\"b"', '{{quote .Run.ID "a\\"b"}}')
    renders("'ca1'", "{{squote .Run.ID}}")
    renders("x", '{{trim "  x \\n"}}')
    renders("a,b,c", '{{join "," .Values.list}}')
    renders("bar", '{{(split "$" "foo$bar")._1}}')
    renders("[foo bar]", '{{splitList "$" "foo$bar"}}')
    renders("true false true true", '{{contains "zure" .Run.Registry}} {{contains "x" "abc"}} '
      .. '{{hasPrefix "my" .Run.Registry}} {{hasSuffix ".io" .Run.Registry}}')
    renders("hush", '{{"aHVzaA==" | b64dec}}')
    renders("illegal base64 data at input byte 1", '{{"a!" | b64dec}}')
    renders('{"a":2,"z":1} ["a","b","c"] null "\\u003cb\\u003e"',
      '{{toJson .Values.m}} {{toJson .Values.list}} {{toJson .Values.nope}} {{toJson "<b>"}}')
    renders("  a\n  b", '{{indent 2 "a\\nb"}}')
  end)

  it("parses once and renders many times", function()
    local tpl = assert(template.parse("{{.Run.ID}}-{{.Values.n}}", {name = "x.yaml"}))
    assert.equal("ca1-3", tpl:render(data))
    assert.equal("ca2-", tpl:render({Run = {ID = "ca2"}, Values = {}}))
    local _, err, code = tpl:render({Run = "flat"})
    assert.equal("ETEMPLATE", code)
    assert.equal("ETEMPLATE: x.yaml:1: at <.Run.ID>: can't evaluate field ID in type string", err)
  end)

  it("calls functions given in opts.funcs", function()
    local out = template.render("{{shout .Run.ID}}", data, {funcs = {shout = function(s) return s .. "!" end}})
    assert.equal("ca1!", out)
    local _, err = template.render("{{boom}}", data, {funcs = {boom = function() error("kaput", 0) end}})
    assert.equal("ETEMPLATE: template:1: at <boom>: error calling boom: kaput", err)
  end)

  it("names the file and line of a parse error", function()
    fails("acb.yaml:3: function \"nope\" not defined", "a\nb\n{{nope .X}}")
    fails("acb.yaml:1: unclosed action", "{{.Run.ID")
    fails("acb.yaml:2: unexpected EOF", "{{if .X}}\nx")
    fails("unexpected {{end}}", "x{{end}}")
    fails("expected end; found {{else}}", "{{if 1}}{{else}}{{else}}{{end}}")
    fails("missing value for command", "{{}}")
    fails("missing value for command", "{{.X | }}")
    fails("non executable command in pipeline stage 2", '{{.X | "a"}}')
    fails("bad number syntax", "{{3x}}")
    fails("unterminated quoted string", '{{"abc}}')
    fails("{{template}} is not supported", '{{template "x"}}')
    fails("{{break}} outside {{range}}", "{{break}}")
    fails("unexpected . after term", '{{"a".b}}')
    fails("nesting deeper than 100", "{{" .. ("("):rep(150) .. "1" .. (")"):rep(150) .. "}}")
    fails("can't give argument to non-function", '{{"a" 1}}')
    renders("", "")
  end)

  it("raises for misuse", function()
    assert.has_error(function() template.parse(42) end, "bad argument #1 to 'parse' (string expected, got number)")
    assert.has_error(function() template.parse("", {nme = "x"}) end, "unknown option 'nme'")
  end)
end)

describe("regsh.task.template fuzzing", function()
  -- any input returns a string or the fail tuple: never raises, never an internal error
  local pieces = {"{{", "}}", "{{-", " -}}", ".Values", ".Run.ID", ".x.y", "$", "$x", ":=", "=", "|",
    "(", ")", "if", "else", "end", "range", "with", "break", '"s"', "`r`", "'c'", "1", "-2", "3.5",
    "0x", "upper", "printf", '"%d"', "index", "eq", "and", "len", "default", "b64enc", "/*", "*/",
    " ", "\n", ",", "nil", "true", "<no value>", "\\", "\"", "{", "}", "\0", "\255"}

  local function check(text)
    local ok, out, err, code = pcall(template.render, text, data, {name = "fuzz"})
    assert(ok, "raised on " .. string.format("%q", text) .. ": " .. tostring(out))
    if out == nil then
      assert(code == "ETEMPLATE" and type(err) == "string", "bad fail tuple for " .. string.format("%q", text))
      assert(err:find("^ETEMPLATE: fuzz:%d+: "), err)
      assert(not err:find("internal error", 1, true), string.format("%q -> %s", text, err))
    else
      assert.equal("string", type(out))
    end
  end

  it("survives random bytes", function()
    math.randomseed(9)
    for _ = 1, 2000 do
      local bytes = {}
      for k = 1, math.random(0, 40) do bytes[k] = string.char(math.random(0, 255)) end
      check(table.concat(bytes))
      check("{{" .. table.concat(bytes) .. "}}")
    end
  end)

  it("survives mutated templates", function()
    math.randomseed(10)
    for _ = 1, 4000 do
      local parts = {}
      for k = 1, math.random(1, 14) do parts[k] = pieces[math.random(#pieces)] end
      check(table.concat(parts))
      check("{{" .. table.concat(parts, " ") .. "}}")
    end
  end)
end)
