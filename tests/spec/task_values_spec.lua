-- regsh.task.values: --set, values files, encoded values, ACR's merge rule
-- (§4.4), the template data and the secret strings to redact.
local values = require "regsh.task.values"
local template = require "regsh.task.template"

local temp_file = require("support.cmd").temp_file

describe("regsh.task.values", function()
  it("splits --set at the first '=' and keeps flat keys", function()
    assert.same({"a", "b=c"}, {values.parse_set("a=b=c")})
    assert.same({"a.b", "1"}, {values.parse_set("a.b=1")})
    assert.same({"k", ""}, {values.parse_set("k=")})
    local k, err, code = values.parse_set("=v")
    assert.is_nil(k)
    assert.equal("ETASK", code)
    assert.equal('ETASK: --set "=v": the key is empty', err)
    k, err = values.parse_set("novalue")
    assert.is_nil(k)
    assert.equal('ETASK: --set "novalue": expected KEY=VALUE', err)
    assert.same({a = "2", b = "x"}, values.parse_sets({"a=1", "b=x", "a=2"}))
    assert.same({nil, 'ETASK: --set "": expected KEY=VALUE', "ETASK"}, {values.parse_sets({"a=1", ""})})
  end)

  it("loads a values file as typed YAML, naming the file in errors", function()
    local good = temp_file("registry: myreg.azurecr.io\nreplicas: 3\ntags: [a, b]\nnested: {x: 1}\n")
    local v = assert(values.load_file(good))
    assert.equal("myreg.azurecr.io", v.registry)
    assert.equal(3, v.replicas)
    assert.same({"a", "b"}, {v.tags[1], v.tags[2]})
    assert.equal(1, v.nested.x)
    assert.same({}, values.load_file(temp_file("")))
    local list = temp_file("- a\n- b\n")
    local _, err, code = values.load_file(list)
    assert.equal("ETASK", code)
    assert.equal("ETASK: values file " .. list .. ": expected a map of names to values, got []interface {}", err)
    local bad = temp_file("a: [1, 2\n")
    _, err, code = values.load_file(bad)
    assert.equal("ETASK", code)
    assert.matches("^ETASK: values file " .. bad:gsub("%p", "%%%0") .. ": .*:%d+:%d+", err)
    _, err, code = values.load_file("/no/such/values.yaml")
    assert.equal("ENOENT", code)
    assert.equal("ENOENT: /no/such/values.yaml: no such file or directory", err)
  end)

  it("decodes --encoded-values text", function()
    assert.equal("a: 1\n", values.decode_encoded("YTogMQo="))
    assert.equal("a: 1\n", values.decode_encoded(" YTog\nMQo= "))
    local _, err, code = values.decode_encoded("not base64!")
    assert.equal("ETASK", code)
    assert.equal("ETASK: encoded content is not valid base64", err)
  end)

  it("merges as ACR does: --set wins, file keys fill in, keys stay flat", function()
    local file = {registry = "file.io", replicas = 3, nested = {x = 1}}
    local merged = values.merge({registry = "set.io", ["nested.x"] = "2"}, file)
    assert.same({registry = "set.io", replicas = 3, nested = {x = 1}, ["nested.x"] = "2"}, merged)
    assert.equal("set.io 3 1 2", template.render(
      '{{.Values.registry}} {{.Values.replicas}} {{.Values.nested.x}} {{index .Values "nested.x"}}',
      {Values = merged}))
    assert.same({}, values.merge(nil, nil))
  end)

  it("lists secret strings with their base64 forms, longest first", function()
    local merged = {pw = "hunter2", token = "abc", plain = "visible", n = 42}
    local secrets = values.secret_strings(merged, {"pw", "token", "missing", "n"})
    assert.same({"aHVudGVyMg==", "hunter2", "NDI=", "YWJj", "abc", "42"}, secrets)
    assert.same({}, values.secret_strings(merged, {}))
  end)

  it("builds the template data with shell-quoted JSON", function()
    local run = {ID = "ca1", Registry = "127.0.0.1:5000"}
    local data = values.template_data(run, {a = "it's"}, {s = "x"})
    assert.equal("ca1 ca1 x", template.render("{{.Run.ID}} {{.Build.ID}} {{.Secrets.s}}", data))
    assert.equal([['{"a":"it'"'"'s"}']], data.ValuesJSON)
    assert.equal([['{"ID":"ca1","Registry":"127.0.0.1:5000"}']], data.RunJSON)
    assert.equal("plain-word_1.2:3/x", values.shell_quote("plain-word_1.2:3/x"))
    assert.equal("''", values.shell_quote(""))
  end)
end)
