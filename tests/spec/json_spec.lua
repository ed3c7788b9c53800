-- regsh.json: decoding over a private cjson.safe, regsh's encoder (sorted,
-- pretty, exact integers, array marker), errors, files. The examples of
-- docs/reference/json-yaml.md run in reference_spec.lua.
local json = require "regsh.json"
local yaml = require "regsh.yaml"

local temp_file = require("support.cmd").temp_file

describe("regsh.json files #disk", function()
  it("reads a file, naming it in errors", function()
    local good = temp_file('{"schemaVersion": 2, "layers": [{"size": 12}]}')
    local bad = temp_file('{"a": 1,}')
    local v = assert(json.decode_file(good))
    assert.equal(2, v.schemaVersion)
    assert.equal(12, v.layers[1].size)
    local nope, err, code = json.decode_file(bad)
    assert.is_nil(nope)
    assert.equal("EJSON", code)
    assert.equal("EJSON: " .. bad .. ":1:9: Expected object key string but found T_OBJ_END", err)
    os.remove(good)
    os.remove(bad)
    nope, err, code = json.decode_file(bad)
    assert.is_nil(nope)
    assert.equal("ENOENT", code)
    assert.equal("ENOENT: " .. bad .. ": no such file or directory", err)
    nope, err, code = json.decode_file("/")
    assert.is_nil(nope)
    assert.equal("EISDIR", code)
    assert.equal("EISDIR: /: illegal operation on a directory", err)
    nope, err, code = json.decode_file("/dev/null/x")
    assert.is_nil(nope)
    assert.equal("ENOTDIR", code)
    assert.matches("^ENOTDIR: /dev/null/x: ", err)
  end)

  it("names errno values as the C modules do (regsh.core.host.errno_name)", function()
    local errno_name = require("regsh.core.host").errno_name
    -- the numbers io.open gives on Linux, named as libuv names them
    assert.equal("ENOENT", errno_name(2))
    assert.equal("EACCES", errno_name(13))
    assert.equal("EMFILE", errno_name(24))
    assert.equal("ENAMETOOLONG", errno_name(36))
    assert.equal("EIO", errno_name(999))  -- no name: EIO, as in C
    assert.has_error(function() errno_name(0) end)
    assert.has_error(function() errno_name("ENOENT") end)
  end)
end)

describe("regsh.json decode", function()
  it("reads objects, arrays and scalars", function()
    local v = assert(json.decode('{"s": "x\\u00e9\\n", "t": true, "f": false, "n": null, "a": [1, [2], {}]}'))
    assert.equal("xé\n", v.s)
    assert.is_true(v.t)
    assert.is_false(v.f)
    assert.equal(json.null, v.n)
    assert.equal(1, v.a[1])
    assert.equal(2, v.a[2][1])
    assert.same({}, v.a[3])
    assert.equal("str", json.decode('"str"'))
    assert.equal(json.null, json.decode("null"))
  end)

  it("gives whole numbers as integers and keeps fractions as floats", function()
    local v = assert(json.decode("[3, -7, 1e2, 2.0, 1.5, 1234567890123, 9007199254740992, 1e400]"))
    for i, want in ipairs{3, -7, 100, 2, 1234567890123, 9007199254740992} do
      local got = v[i < 5 and i or i + 1]
      assert.equal(want, got)
      assert.equal("integer", math.type(got))
    end
    assert.equal(1.5, v[5])
    assert.equal("float", math.type(v[5]))
    assert.equal(math.huge, v[8])  -- overflow: strtod's infinity, still a float
    assert.equal("integer", math.type(json.decode("42")))
  end)

  it("marks arrays, not objects", function()
    local v = assert(json.decode('{"list": [1], "obj": {"1": "x"}, "empty": []}'))
    assert.equal(json.array_mt, getmetatable(v.list))
    assert.is_nil(getmetatable(v.obj))
    assert.equal("x", v.obj["1"])
    assert.is_nil(getmetatable(v.empty))  -- cjson cannot tell [] from {}
  end)

  it("fails with line:column on malformed input", function()
    local cases = {
      ['{"a": 1,}'] = "EJSON: 1:9: Expected object key string but found T_OBJ_END",
      ['[1, 2'] = "EJSON: 1:6: Expected comma or array end but found T_END",
      ['{\n  "a": tru\n}'] = "EJSON: 2:8: Expected value but found invalid token",
      ['[1] [2]'] = "EJSON: 1:5: Expected the end but found T_ARR_BEGIN",
      [''] = "EJSON: 1:1: Expected value but found T_END",
      ['[NaN]'] = "EJSON: 1:2: Expected value but found invalid token",
      ['0x10'] = "EJSON: 1:1: Expected value but found invalid number",
      ['"\\ud800"'] = "EJSON: 1:2: Expected value but found invalid unicode escape code",
      ["{'a': 1}"] = "EJSON: 1:2: Expected object key string but found invalid token",
    }
    for text, want in pairs(cases) do
      local v, err, code = json.decode(text)
      assert.is_nil(v, text)
      assert.equal("EJSON", code, text)
      assert.equal(want, err, text)
    end
    assert.equal("EJSON: m.json:1:6: Expected comma or array end but found T_END",
                 select(2, json.decode("[1, 2", "m.json")))
  end)

  it("fails, not raises, on nesting past 1000", function()
    assert.is_table(json.decode(string.rep("[", 1000) .. string.rep("]", 1000)))
    local v, err, code = json.decode(string.rep("[", 1001) .. string.rep("]", 1001))
    assert.is_nil(v)
    assert.equal("EJSON", code)
    assert.matches("^EJSON: 1:1001: Found too many nested data structures %(1001%)", err)
  end)

  it("never raises on garbage", function()
    math.randomseed(99)
    local pieces = {"[", "]", "{", "}", '"', ":", ",", "1", "-", "e", ".", "\\", "u", "null", "tru",
                    " ", "\n", "\0", "\xff"}
    for _ = 1, 2000 do
      local parts = {}
      for i = 1, math.random(1, 10) do parts[i] = pieces[math.random(#pieces)] end
      local text = table.concat(parts)
      local v, err, code = json.decode(text)
      assert(v ~= nil or (code == "EJSON" and err:match("^EJSON: %d+:%d+: ")), text)
    end
  end)

  it("raises on arguments of the wrong type", function()
    assert.has_error(function() json.decode(nil) end,
                     "bad argument #1 to 'decode' (string expected, got nil)")
    assert.has_error(function() json.decode(12) end,
                     "bad argument #1 to 'decode' (string expected, got number)")
    assert.has_error(function() json.decode("1", {}) end,
                     "bad argument #2 to 'decode' (string expected, got table)")
    assert.has_error(function() json.decode_file(nil) end,
                     "bad argument #1 to 'decode_file' (string expected, got nil)")
  end)

  it("leaves the shared cjson modules' settings alone", function()
    -- our instance is strict; the global cjson.safe still takes NaN
    assert.is_nil(json.decode("NaN"))
    local nan = require("cjson.safe").decode("NaN")
    assert.is_true(nan ~= nan)
  end)
end)

describe("regsh.json encode", function()
  it("writes compact JSON with sorted keys", function()
    assert.equal('{"a":1,"b":[true,false,null],"c":{"d":"e"},"z":[]}',
                 json.encode({z = json.array(), c = {d = "e"}, a = 1, b = {true, false, json.null}}))
    assert.equal("null", json.encode(nil))
    assert.equal("{}", json.encode({}))
    assert.equal('"x"', json.encode("x"))
  end)

  it("pretty-prints exactly", function()
    local v = {name = "alpine", tags = {"3.19", "latest"}, size = 3408, meta = {},
               nested = {list = json.array(), deep = {x = 1.5}}}
    assert.equal([[
{
  "meta": {},
  "name": "alpine",
  "nested": {
    "deep": {
      "x": 1.5
    },
    "list": []
  },
  "size": 3408,
  "tags": [
    "3.19",
    "latest"
  ]
}]], json.encode(v, {pretty = true}))
    assert.equal('[\n    1\n]', json.encode({1}, {pretty = true, indent = 4}))
    assert.equal("[]", json.encode(json.array(), {pretty = true}))
  end)

  it("writes integers in full and floats exactly", function()
    assert.equal("[1234567890123,9007199254740993,9223372036854775807,-9223372036854775808]",
                 json.encode({1234567890123, (1 << 53) + 1, math.maxinteger, math.mininteger}))
    assert.equal("[9007199254740992,0.1,0.3333333333333333,1e+300,-0,3]",
                 json.encode({2^53 + 1, 0.1, 1/3, 1e300, -0.0, 3.0}))
    for _, x in ipairs{0.1, 1/3, 2/3, 1e-300, 5e-324, 1.7976931348623157e308, 123.456, -2.5e-7} do
      assert.equal(x, json.decode(json.encode(x)))
    end
  end)

  it("escapes what JSON requires and passes UTF-8 through", function()
    assert.equal([["q\"b\\s\\/n\n\r\t\b\f\u0000\u001f\u007f héllo ☃"]],
                 json.encode('q"b\\s\\/n\n\r\t\b\f\0\31\127 héllo ☃'))
    local s = 'all \0 \1 " \\ / é \u{1F600}'
    assert.equal(s, json.decode(json.encode(s)))
  end)

  it("round-trips a registry manifest", function()
    local text = '{"config":{"digest":"sha256:aa","mediaType":"application/vnd.oci.image.config.v1+json","size":1470},'
      .. '"layers":[{"digest":"sha256:bb","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":3408729}],'
      .. '"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}'
    assert.equal(text, json.encode(assert(json.decode(text))))
  end)

  it("raises on what JSON cannot hold, naming where it is", function()
    local function err_of(v)
      local ok, err = pcall(json.encode, v)
      assert.is_false(ok)
      return err
    end
    assert.equal("regsh.json.encode: cannot encode a function value at $.steps[1].run",
                 err_of({steps = {{run = print}}}))
    assert.equal("regsh.json.encode: cannot encode a sparse array (2 items, largest index 3) at $.a",
                 err_of({a = {[1] = 1, [3] = 3}}))
    assert.equal("regsh.json.encode: cannot encode a table with both string keys and array indexes at $",
                 err_of({1, x = 2}))
    assert.equal("regsh.json.encode: cannot encode a table with a number key (1.5) at $",
                 err_of({[1.5] = 1}))
    assert.equal("regsh.json.encode: cannot encode a table with a boolean key (true) at $[\"odd key\"]",
                 err_of({["odd key"] = {[true] = 1}}))
    local cycle = {}
    cycle.me = {cycle}
    assert.equal("regsh.json.encode: cannot encode a table that contains itself (a cycle) at $.me[1]",
                 err_of(cycle))
    assert.equal("regsh.json.encode: cannot encode a number that JSON has no text for (NaN) at $[1]",
                 err_of({0/0}))
    assert.equal("regsh.json.encode: cannot encode a number that JSON has no text for (inf) at $.x",
                 err_of({x = math.huge}))
    assert.equal("regsh.json.encode: cannot encode a table marked as an array that has other keys at $",
                 err_of(json.array({x = 1})))
    assert.equal("regsh.json.encode: cannot encode a userdata value at $",
                 err_of(io.stdout))
  end)

  it("raises at the caller's line, with bad options named", function()
    local ok, err = pcall(function() local s = json.encode(print); return s end)
    assert.is_false(ok)
    assert.matches("tests/spec/json_spec.lua:%d+: regsh.json.encode:", err)
    assert.has_error(function() json.encode({}, {prety = true}) end, "unknown option 'prety'")
    assert.has_error(function() json.encode({}, {pretty = 1}) end,
                     "option 'pretty' must be a boolean, got number")
    assert.has_error(function() json.encode({}, "pretty") end)
    assert.has_error(function() json.array(1) end,
                     "bad argument #1 to 'array' (table expected, got number)")
  end)

  it("refuses nesting past 1000 levels", function()
    local deep = {}
    local cur = deep
    for _ = 1, 1001 do cur[1] = {}; cur = cur[1] end
    local ok, err = pcall(json.encode, deep)
    assert.is_false(ok)
    assert.matches("a table nested deeper than 1000 levels at $[1][1]", err, 1, true)
  end)
end)

describe("regsh.json and regsh.yaml together", function()
  it("share one null", function()
    assert.equal(json.null, yaml.null)
    assert.equal(require("cjson").null, json.null)
    local from_json = assert(json.decode('{"a": null}'))
    local from_yaml = assert(yaml.decode("a: ~"))
    assert.equal(from_json.a, from_yaml.a)
    assert.equal(json.encode(from_yaml), json.encode(from_json))
  end)

  it("carry YAML to JSON with empty sequences kept as arrays", function()
    local v = assert(yaml.decode("steps: []\nenv: {}\nvalues: [1, 2.5, true, ~, '010']\n"))
    assert.equal('{"env":{},"steps":[],"values":[1,2.5,true,null,"010"]}', json.encode(v))
    local back = assert(yaml.decode(yaml.encode(assert(json.decode(json.encode(v))))))
    assert.same({1, 2.5, true, yaml.null, "010"}, back.values)
  end)
end)
