-- regsh.yaml: decoding real ACR task files, the core schema, anchors and
-- merge keys, multi-document streams, error positions, and encode/decode
-- round trips (src/yaml_decode.c and src/yaml_encode.c underneath).
local yaml = require "regsh.yaml"
local json = require "regsh.json"

-- the shared test data sits beside the repository (also in CI's checkout)
local function testdata_dir()
  for _, dir in ipairs{"../shared/testdata/acr-tasks", "/work/shared/testdata/acr-tasks"} do
    local f = io.open(dir .. "/demo42__web__acr-task.yaml")
    if f then
      f:close()
      return dir
    end
  end
  error("cannot find shared/testdata/acr-tasks")
end

local function task_files(dir)
  local files = {}
  local p = assert(io.popen("ls '" .. dir .. "'"))
  for name in p:lines() do
    if name:match("%.ya?ml$") then files[#files + 1] = name end
  end
  p:close()
  return files
end

local function roundtrip(v)
  return assert(yaml.decode(yaml.encode(v)))
end

describe("regsh.yaml ACR task files #disk", function()
  local dir = testdata_dir()
  -- not YAML until ACR renders its templates: `- {{.Run.Registry}}/x` is a
  -- flow mapping followed by text (PyYAML stops at the same place)
  local needs_rendering = {["AzureCR__acr-task-multiarch__acr-task.yaml"] = "8:24"}

  it("decodes every task file that is YAML as written", function()
    local files = task_files(dir)
    assert.is_true(#files >= 11)
    for _, name in ipairs(files) do
      local v, err, code = yaml.decode_file(dir .. "/" .. name)
      if needs_rendering[name] then
        assert.is_nil(v)
        assert.equal("EYAML", code)
        assert.matches(name .. ":" .. needs_rendering[name]
                       .. ": did not find expected '-' indicator", err, 1, true)
      else
        assert.is_table(v, name .. ": " .. tostring(err))
        assert.is_table(v.steps, name)
      end
    end
  end)

  it("reads the multi-arch task once its templates are rendered", function()
    local f = assert(io.open(dir .. "/AzureCR__acr-task-multiarch__acr-task.yaml"))
    local text = f:read("a"):gsub("{{%.Run%.Registry}}", "reg.azurecr.io")
                            :gsub("{{%.Run%.ID}}", "cf1")
    f:close()
    local task = assert(yaml.decode(text))
    assert.equal("1.0.0-preview", task.version)
    assert.same({"reg.azurecr.io/multi-arch:amd64-cf1", "reg.azurecr.io/multi-arch:arm32-cf1"},
                task.steps[3].push)
    assert.equal("docker manifest create reg.azurecr.io/multi-arch:cf1 "
                 .. "reg.azurecr.io/multi-arch:arm32-cf1 reg.azurecr.io/multi-arch:amd64-cf1\n",
                 task.steps[4].cmd)
  end)

  it("keeps the values of the acr-builder alias test file", function()
    local t = assert(yaml.decode_file(dir .. "/Azure__acr-builder__graph__testdata__preprocessor__valid-alias.yaml"))
    assert.equal("v1.0.0", t.version)
    assert.equal(600, t.stepTimeout)
    assert.equal("integer", math.type(t.stepTimeout))
    assert.equal("{{.Run.Registry}}", t.alias.values.registry)
    assert.same({"foo=taskEnv"}, t.env)
    local puller = t.steps[1]
    assert.equal("puller", puller.id)
    assert.same({0, 255}, puller.exitedWithout)
    assert.same({"eric=foo", "foo=bar"}, puller.env)
    assert.is_true(puller.pull)
    assert.equal(90, puller.retryDelay)
    assert.same({"8000:8000", "8080:8080"}, t.steps[3].ports)
    assert.same({"80", "81"}, t.steps[3].expose)  -- quoted: strings
    assert.same({"C"}, t.steps[5].when)
    assert.equal(7, #t.steps)
  end)

  it("folds `>` blocks and keeps `$` and quotes in commands", function()
    local t = assert(yaml.decode_file(dir .. "/demo42__web__acr-task.yaml"))
    assert.equal("1.0-preview-1", t.version)
    assert.equal("-t {{.Run.Registry}}/demo42/web:{{.Run.ID}} --file ./src/WebUI/Dockerfile "
                 .. "--build-arg REGISTRY_NAME={{.Run.Registry}}/ .\n", t.steps[1].build)
    assert.equal("./deploy.sh", t.steps[3].entryPoint)
    assert.equal("RUN_REGISTRYNAME=demo42", t.steps[3].env[7])
    local w = assert(yaml.decode_file(dir .. "/Azure-Samples__acr-tasks__files-working-directory.yaml"))
    assert.equal("bash -c 'echo $(date) >> hello.txt'", w.steps[1].cmd)
  end)

  it("reads `{{...}}` left unrendered as a flow mapping (a table key)", function()
    local t = assert(yaml.decode_file(dir .. "/Azure-Samples__acr-tasks__mounts-secrets.yaml"))
    local secret = t.volumes[1].secret.mysecret1
    local key = next(secret)
    assert.is_table(key)
    assert.equal(yaml.null, key[".Secrets.sampleSecret | b64enc"])
    assert.has_error(function() yaml.encode(t) end,
      "regsh.yaml.encode: cannot encode a table as a mapping key at $.volumes[1].secret.mysecret1")
  end)

  it("fails on a missing file with ENOENT naming it", function()
    local v, err, code = yaml.decode_file(dir .. "/no-such-task.yaml")
    assert.is_nil(v)
    assert.equal("ENOENT", code)
    assert.matches("^ENOENT: .*no%-such%-task%.yaml", err)
  end)
end)

describe("regsh.yaml core schema", function()
  local function one(text) return assert(yaml.decode("v: " .. text)).v end

  it("reads the null forms as the null sentinel", function()
    for _, text in ipairs{"~", "null", "Null", "NULL", ""} do
      assert.equal(yaml.null, one(text), text)
    end
    assert.equal(yaml.null, yaml.decode(""))
    assert.equal(yaml.null, yaml.decode("# only a comment\n"))
  end)

  it("reads booleans in three spellings only", function()
    for _, text in ipairs{"true", "True", "TRUE"} do assert.is_true(one(text)) end
    for _, text in ipairs{"false", "False", "FALSE"} do assert.is_false(one(text)) end
    for _, text in ipairs{"yes", "no", "on", "off", "y", "tRUE"} do
      assert.equal(text, one(text))  -- YAML 1.1 booleans are strings in 1.2
    end
  end)

  it("reads integers: decimal, 0x, 0o, signs, leading zeros", function()
    local cases = {
      ["0"] = 0, ["42"] = 42, ["-17"] = -17, ["+5"] = 5, ["010"] = 10,
      ["0x1F"] = 31, ["0xff"] = 255, ["0o17"] = 15,
      ["9223372036854775807"] = math.maxinteger,
      ["-9223372036854775808"] = math.mininteger,
    }
    for text, want in pairs(cases) do
      local got = one(text)
      assert.equal(want, got, text)
      assert.equal("integer", math.type(got), text)
    end
    assert.equal("float", math.type(one("9223372036854775808")))  -- past 2^63
    assert.equal("float", math.type(one("0x10000000000000000")))
    assert.equal(2^64, one("0x10000000000000000"))
  end)

  it("reads floats, including exponents, .inf and .nan", function()
    local cases = {
      ["1.5"] = 1.5, ["-0.25"] = -0.25, [".5"] = 0.5, ["1."] = 1.0, ["1e3"] = 1000.0,
      ["1E-2"] = 0.01, ["+2.5e+2"] = 250.0, [".inf"] = math.huge, [".Inf"] = math.huge,
      ["-.INF"] = -math.huge, ["+.inf"] = math.huge,
    }
    for text, want in pairs(cases) do
      local got = one(text)
      assert.equal(want, got, text)
      assert.equal("float", math.type(got), text)
    end
    for _, text in ipairs{".nan", ".NaN", ".NAN"} do
      local got = one(text)
      assert.is_true(got ~= got, text)
    end
  end)

  it("keeps strings that only look alike as strings", function()
    for _, text in ipairs{"1.0.0", "v1", "0x", "0xG", "0o8", "1e", "e3", "--1", ".", "-x",
                          "1_000", "1:20", "2024-01-02", ".infinity", "nan", "~x", "0b101"} do
      assert.equal(text, one(text), text)
    end
  end)

  it("never resolves quoted scalars", function()
    assert.same({"010", "true", "1.0", "null", "", "~", "0x10"},
                assert(yaml.decode([=[['010', "true", '1.0', "null", '', "~", '0x10']]=])))
    assert.equal("42\n", assert(yaml.decode("v: |\n  42\n")).v)
  end)

  it("honours explicit core tags", function()
    local v = assert(yaml.decode(table.concat({
      "- !!str 010", "- !!str true", "- !!int '12'", "- !!int 0x10", "- !!float 1",
      "- !!float '2.5'", "- !!bool 'TRUE'", "- !!null ''", "- !!str", "- ! 12",
      "- !local 12", "- !!binary aGk=",
    }, "\n")))
    assert.equal("010", v[1])
    assert.equal("true", v[2])
    assert.equal(12, v[3]); assert.equal("integer", math.type(v[3]))
    assert.equal(16, v[4])
    assert.equal(1.0, v[5]); assert.equal("float", math.type(v[5]))
    assert.equal(2.5, v[6])
    assert.is_true(v[7])
    assert.equal(yaml.null, v[8])
    assert.equal("", v[9])
    assert.equal("12", v[10])  -- the non-specific tag: a string
    assert.equal(12, v[11])    -- unknown tags are ignored
    assert.equal("aGk=", v[12])
  end)

  it("reports a tagged value that is not of its type", function()
    local v, err, code = yaml.decode("a: 1\nb: !!int abc\n")
    assert.is_nil(v)
    assert.equal("EYAML", code)
    assert.equal("EYAML: 2:4: invalid !!int value 'abc'", err)
    assert.equal("EYAML: 1:1: invalid !!bool value 'yes'", select(2, yaml.decode("!!bool yes")))
  end)
end)

describe("regsh.yaml structure", function()
  it("gives an alias the same table as its anchor", function()
    local v = assert(yaml.decode("base: &b {x: 1}\nuse: *b\nlist: [*b, *b]\n"))
    assert.equal(v.base, v.use)
    assert.equal(v.base, v.list[1])
    assert.equal(v.list[1], v.list[2])
    v.use.x = 2
    assert.equal(2, v.base.x)
  end)

  it("aliases scalars and sequences too", function()
    local v = assert(yaml.decode("a: &s hello\nb: *s\nc: &l [1]\nd: *l\n"))
    assert.equal("hello", v.b)
    assert.equal(v.c, v.d)
  end)

  it("does not expand nested aliases (no billion laughs)", function()
    local lines = {"a: &a [x, x, x, x, x, x, x, x, x, x]"}
    for i = 2, 26 do
      local me, prev = string.char(96 + i), string.char(95 + i)
      lines[i] = me .. ": &" .. me .. " [" .. string.rep("*" .. prev, 10, ", ") .. "]"
    end
    local v = assert(yaml.decode(table.concat(lines, "\n")))  -- 10^26 if expanded
    assert.equal(v.y, v.z[1])
    assert.equal(v.y, v.z[10])
  end)

  it("lets an alias inside its anchor make a cycle", function()
    local v = assert(yaml.decode("&a [1, *a]"))
    assert.equal(v, v[2])
    assert.has_error(function() yaml.encode(v) end,
      "regsh.yaml.encode: cannot encode a table that contains itself (a cycle) at $[2]")
  end)

  it("reports an alias to an unknown anchor", function()
    assert.same({nil, "EYAML: 2:4: unknown anchor 'nope'", "EYAML"},
                {yaml.decode("a: 1\nb: *nope\n")})
  end)

  it("scopes anchors to their document", function()
    local v, err = yaml.decode_all("a: &x 1\n---\nb: *x\n")
    assert.is_nil(v)
    assert.equal("EYAML: 3:4: unknown anchor 'x'", err)
  end)

  it("merges `<<` mappings, own keys winning", function()
    local v = assert(yaml.decode([[
defaults: &defaults
  retries: 3
  timeout: 60
step:
  <<: *defaults
  timeout: 10
]]))
    assert.same({retries = 3, timeout = 10}, v.step)
    assert.same({retries = 3, timeout = 60}, v.defaults)  -- untouched
    assert.not_equal(v.defaults, v.step)
  end)

  it("merges a list of mappings, earlier ones winning", function()
    local v = assert(yaml.decode([[
a: &a {x: a, only_a: 1}
b: &b {x: b, y: b, only_b: 2}
c:
  <<: [*a, *b, {z: inline}]
  y: own
]]))
    assert.same({x = "a", y = "own", z = "inline", only_a = 1, only_b = 2}, v.c)
  end)

  it("merges docker-compose style service templates", function()
    local v = assert(yaml.decode([[
x-service: &service
  restart: always
  environment: &env
    LOG: info
services:
  web:
    <<: *service
    image: nginx
  worker:
    <<: *service
    environment:
      <<: *env
      QUEUE: jobs
]]))
    assert.equal("always", v.services.web.restart)
    assert.equal(v["x-service"].environment, v.services.web.environment)
    assert.same({LOG = "info", QUEUE = "jobs"}, v.services.worker.environment)
  end)

  it("treats a quoted '<<' as an ordinary key", function()
    assert.same({["<<"] = "x"}, assert(yaml.decode("'<<': x")))
  end)

  it("rejects a merge of something that is not a mapping", function()
    assert.same({nil, "EYAML: 1:5: a merge key (<<) takes a mapping or a sequence of mappings", "EYAML"},
                {yaml.decode("a: {<<: 1}")})
    assert.equal("EYAML: 1:10: a merge key (<<) takes mappings", select(2, yaml.decode("a: {<<: [1]}")))
  end)

  it("rejects duplicate keys", function()
    assert.equal("EYAML: 3:1: duplicate mapping key 'a'", select(2, yaml.decode("a: 1\nb: 2\na: 3\n")))
    assert.equal("EYAML: 1:8: duplicate mapping key '1.0'", select(2, yaml.decode("{1: a, 1.0: b}")))
  end)

  it("reads several documents with decode_all", function()
    local docs = assert(yaml.decode_all("---\na: 1\n---\n- x\n--- 3\n...\n"))
    assert.equal(3, #docs)
    assert.same({a = 1}, docs[1])
    assert.same({"x"}, docs[2])
    assert.equal(3, docs[3])
    assert.same({}, assert(yaml.decode_all("")))
    assert.same({yaml.null}, assert(yaml.decode_all("---\n")))
  end)

  it("refuses several documents in decode", function()
    assert.same({nil, "EYAML: f.yaml:2:1: a second document in the stream (decode_all reads several)", "EYAML"},
                {yaml.decode("a: 1\n---\nb: 2\n", "f.yaml")})
    assert.same({a = 1}, assert(yaml.decode("---\na: 1\n...\n")))
  end)

  it("limits nesting to 1000 levels", function()
    assert.equal(1, #assert(yaml.decode(string.rep("[", 1000) .. string.rep("]", 1000))))
    assert.equal("EYAML: 1:1001: nesting deeper than 1000",
                 select(2, yaml.decode(string.rep("[", 1001) .. string.rep("]", 1001))))
    assert.equal("EYAML: 1:4001: nesting deeper than 1000",
                 select(2, yaml.decode(string.rep("{a: ", 5000))))
  end)

  it("marks sequences so that an empty one stays an array", function()
    local v = assert(yaml.decode("a: []\nb: {}\nc: [1]\n"))
    assert.equal(json.array_mt, getmetatable(v.a))
    assert.is_nil(getmetatable(v.b))
    assert.equal('{"a":[],"b":{},"c":[1]}', json.encode(v))
    assert.equal("a: []\nb: {}\nc:\n- 1\n", yaml.encode(v))
  end)

  it("keeps non-string keys", function()
    local v = assert(yaml.decode("1: one\ntrue: yes\n~: nothing\n2.5: x\n"))
    assert.equal("one", v[1])
    assert.equal("yes", v[true])
    assert.equal("nothing", v[yaml.null])
    assert.equal("x", v[2.5])
    assert.equal("EYAML: 1:1: a mapping key cannot be NaN", select(2, yaml.decode(".nan: 1")))
  end)
end)

describe("regsh.yaml errors", function()
  local function err_of(text, name) return select(2, yaml.decode(text, name)) end

  it("gives line:column and libyaml's problem", function()
    assert.equal("EYAML: 3:5: mapping values are not allowed in this context",
                 err_of("a: 1\nb: 2\nc: d: e\n"))
    assert.equal("EYAML: task.yaml:3:5: mapping values are not allowed in this context",
                 err_of("a: 1\nb: 2\nc: d: e\n", "task.yaml"))
    assert.equal("EYAML: 3:3: did not find expected '-' indicator (while parsing a block collection at 2:3)",
                 err_of("a:\n  - b\n  c: d\n"))
    assert.equal("EYAML: 2:1: found unexpected end of stream (while scanning a quoted scalar at 1:4)",
                 err_of("a: 'unterminated\n"))
    assert.equal("EYAML: 2:2: did not find expected ',' or ']' (while parsing a flow sequence at 1:4)",
                 err_of("a: [1, 2\nb: 3\n"))
    assert.equal("EYAML: 2:1: found a tab character that violates indentation (while scanning a plain scalar at 1:4)",
                 err_of("a: 1\n\tb: 2\n"))
    assert.equal("EYAML: 2:1: did not find expected '-' indicator (while parsing a block collection at 1:1)",
                 err_of("- a\nb: c\n"))
    assert.equal("EYAML: 1:5: did not find expected alphabetic or numeric character (while scanning an alias at 1:4)",
                 err_of("a: *\n"))
  end)

  it("positions reader errors (bad UTF-8, control characters)", function()
    assert.equal("EYAML: 2:4: invalid leading UTF-8 octet (0xFF)", err_of("a: 1\nb: \xff\n"))
    assert.equal("EYAML: 1:7: control characters are not allowed (0x1)", err_of("a: é x\1"))
  end)

  it("never raises on garbage, only fails", function()
    math.randomseed(1234)
    local pieces = {"\0", "\xff", "&a ", "*a ", "<<: ", "- ", "? ", ": ", "[", "]", "{",
                    "}", "'", '"', "|", ">", "\n", "  ", "#", "!!", "%", "---", "\t", "x"}
    for _ = 1, 2000 do
      local parts = {}
      for i = 1, math.random(1, 12) do parts[i] = pieces[math.random(#pieces)] end
      local text = table.concat(parts)
      local v, err, code = yaml.decode_all(text)
      assert(v ~= nil or (code == "EYAML" and err:match("^EYAML: %d+:%d+: ")), text)
    end
  end)

  it("raises on arguments of the wrong type", function()
    assert.has_error(function() yaml.decode(nil) end,
                     "bad argument #1 to 'decode' (string expected, got nil)")
    assert.has_error(function() yaml.decode({}) end)
    assert.has_error(function() yaml.decode_all(42) end,
                     "bad argument #1 to 'decode_all' (string expected, got number)")
    assert.has_error(function() yaml.decode_file(false) end)
    assert.has_error(function() yaml.decode("a", 42) end,
                     "bad argument #2 to 'decode' (string expected, got number)")
  end)
end)

describe("regsh.yaml encode", function()
  it("writes sorted keys in block style", function()
    assert.equal([[
a: 1
b:
- x
- 2.5
- true
- null
c:
  d: {}
  e: []
]], yaml.encode({c = {d = {}, e = yaml.array()}, a = 1, b = {"x", 2.5, true, yaml.null}}))
  end)

  it("orders keys null, booleans, numbers, strings", function()
    assert.equal("null: none\nfalse: f\ntrue: t\n-1: m\n1: o\n1.5: h\nA: a\nb: b\n",
                 yaml.encode({b = "b", A = "a", [1] = "o", [1.5] = "h", [-1] = "m",
                              [true] = "t", [false] = "f", [yaml.null] = "none"}))
  end)

  it("quotes strings that would read back as something else", function()
    local tricky = {"yes", "no", "on", "off", "y", "n", "null", "~", "", "true", "False", "010", "0x1F",
                    "1e3", "1.0", ".inf", "-.inf", ".nan", "1:20", "2024-01-02", "1_000", "<<", "=",
                    " leading space", "trailing space ", "- dash", "a: b", "# hash", "@at", "`tick",
                    "*star", "&amp", "!bang", "%pct", "{x}", "[x]", "'", '"', "|", ">", "---", "...",
                    "\t", "a\tb", "\0", "\1", "\127"}
    for _, s in ipairs(tricky) do
      assert.equal(s, roundtrip({s})[1], s)
      assert.equal(s, roundtrip(s), s)
      assert.equal("value", roundtrip({[s] = "value"})[s], s)
    end
    assert.equal("- 'yes'\n- '010'\n- ''\n- 'null'\n- v1.1.0\n",
                 yaml.encode({"yes", "010", "", "null", "v1.1.0"}))
  end)

  it("writes multi-line text as literal blocks that read back exactly", function()
    assert.equal("script: |\n  echo one\n  echo two\n",
                 yaml.encode({script = "echo one\necho two\n"}))
    for _, s in ipairs{"a\nb", "a\nb\n", "a\n\n", "\n", "\n\nx", "  indented\nnext",
                       "trailing \nspaces  \n", "line\r\nwindows", "tab\n\tindent"} do
      assert.equal(s, roundtrip({k = s}).k, s)
      assert.equal(s, roundtrip(s), s)
    end
  end)

  it("round-trips unicode, escaping only what libyaml deems unprintable", function()
    local s = "héllo wörld ☃ 日本"
    assert.equal("k: " .. s .. "\n", yaml.encode({k = s}))
    assert.equal(s, roundtrip({k = s}).k)
    -- libyaml 0.2.5 writes characters past U+FFFF as escapes
    local emoji = "smile \u{1F600}"
    assert.equal('k: "smile \\U0001F600"\n', yaml.encode({k = emoji}))
    assert.equal(emoji, roundtrip({k = emoji}).k)
  end)

  it("round-trips numbers exactly, floats staying floats", function()
    for _, x in ipairs{0, -1, math.maxinteger, math.mininteger, 2^53 + 1, 1234567890123,
                       0.1, 1/3, -0.0, 1e300, 5e-324, 3.0, 1e15, math.huge, -math.huge} do
      local back = roundtrip({x})[1]
      assert.equal(x, back, tostring(x))
      assert.equal(math.type(x), math.type(back), tostring(x))
    end
    assert.equal("- 3.0\n- 1234567890123\n- 0.1\n- .inf\n", yaml.encode({3.0, 1234567890123, 0.1, math.huge}))
    local nan = roundtrip({0/0})[1]
    assert.is_true(nan ~= nan)
  end)

  it("round-trips a decoded task file to an equal value", function()
    local text = [[
version: v1.1.0
alias:
  values:
    repo: my-website
steps:
  - id: build
    build: -t $Registry/hello:$ID .
    when: ["-"]
    env: []
  - cmd: >
      helm upgrade
      --set tag=$ID
    retries: 3
    timeout: 1.5
    detach: false
    ports: ["8000:8000"]
]]
    local v = assert(yaml.decode(text))
    local again = assert(yaml.decode(yaml.encode(v)))
    assert.same(v, again)
    assert.equal(yaml.encode(v), yaml.encode(again))
    assert.equal(json.array_mt, getmetatable(again.steps[1].env))
  end)

  it("writes scalars at the top level", function()
    assert.equal("x\n", yaml.encode("x"))
    assert.equal("42\n", yaml.encode(42))
    assert.equal("null\n", yaml.encode(yaml.null))
    assert.equal("null\n", yaml.encode(nil))
    assert.equal("{}\n", yaml.encode({}))
    assert.equal("[]\n", yaml.encode(yaml.array()))
  end)

  it("writes integer-keyed tables that are not sequences as mappings", function()
    local v = {[1] = "a", [3] = "c"}
    assert.equal("1: a\n3: c\n", yaml.encode(v))
    assert.same(v, roundtrip(v))
  end)

  it("raises on values YAML cannot hold, naming where they are", function()
    assert.has_error(function() yaml.encode({steps = {{run = print}}}) end,
                     "regsh.yaml.encode: cannot encode a function value at $.steps[1].run")
    assert.has_error(function() yaml.encode({["odd key"] = {coroutine.create(print)}}) end,
                     "regsh.yaml.encode: cannot encode a thread value at $[\"odd key\"][1]")
    local cycle = {}
    cycle.self = {cycle}
    assert.has_error(function() yaml.encode(cycle) end,
                     "regsh.yaml.encode: cannot encode a table that contains itself (a cycle) at $.self[1]")
    assert.has_error(function() yaml.encode({s = "\xff"}) end,
                     "regsh.yaml.encode: cannot encode a string that is not valid UTF-8 at $.s")
    assert.has_error(function() yaml.encode(yaml.array({x = 1})) end,
                     "regsh.yaml.encode: cannot encode a table marked as an array that has other keys at $")
    assert.has_error(function() yaml.encode({[print] = 1}) end,
                     "regsh.yaml.encode: cannot encode a function as a mapping key at $")
  end)

  it("writes a shared (acyclic) table in full each time", function()
    local shared = {x = 1}
    assert.equal("a:\n  x: 1\nb:\n  x: 1\n", yaml.encode({a = shared, b = shared}))
  end)

  it("refuses nesting past 1000 levels", function()
    local deep = {}
    local cur = deep
    for _ = 1, 1001 do cur[1] = {}; cur = cur[1] end
    local ok, err = pcall(yaml.encode, deep)
    assert.is_false(ok)
    assert.matches("cannot encode a table nested deeper than 1000 levels at $[1]", err, 1, true)
  end)
end)

describe("regsh.yaml null and version", function()
  it("shares the null sentinel with JSON and cjson", function()
    assert.equal(json.null, yaml.null)
    assert.equal(require("cjson").null, yaml.null)
    assert.equal(json.decode("null"), yaml.decode("~"))
    assert.equal(json.decode('{"a":null}').a, yaml.decode("a:").a)
  end)

  it("reports libyaml's version", function()
    assert.matches("^%d+%.%d+%.%d+$", yaml.libyaml_version)
  end)
end)
