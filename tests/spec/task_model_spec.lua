-- The task model (regsh.task.model) and acr_yaml's text stages that need no
-- template: ACR's defaults, each validation error in acb's exact words, the
-- dependency rules, and the alias state machine's edge cases (reference §4.6).
local model = require "regsh.task.model"
local acr_yaml = require "regsh.task.acr_yaml"

local function norm(raw, opts)
  return model.normalize(raw, opts)
end

local function fails(raw, message)
  local task, err, code = norm(raw)
  assert.is_nil(task)
  assert.equal("ETASK", code)
  assert.truthy(err:find(message, 1, true), "expected «" .. message .. "» in «" .. err .. "»")
  return err
end

local function deps_of(task)
  local out = {}
  for _, s in ipairs(task.steps) do out[s.id] = s.deps end
  return out
end

describe("task model: defaults", function()
  it("stamps stepTimeout, retryDelay 5, acb_step_N ids, /workspace, version v1.0.0", function()
    local task = assert(norm{steps = {{cmd = "a"}, {cmd = "b", timeout = 30, retryDelay = 0},
                                      {cmd = "c", retryDelay = 7}}})
    assert.equal("v1.0.0", task.version)
    assert.equal(600, task.stepTimeout)
    assert.same({"acb_step_0", "acb_step_1", "acb_step_2"},
                {task.steps[1].id, task.steps[2].id, task.steps[3].id})
    assert.same({600, 30, 600}, {task.steps[1].timeout, task.steps[2].timeout, task.steps[3].timeout})
    assert.same({5, 5, 7}, {task.steps[1].retryDelay, task.steps[2].retryDelay,
                            task.steps[3].retryDelay})
    assert.equal("/workspace", task.steps[1].workingDirectory)
  end)

  it("uses the task's stepTimeout, and 600 for a stepTimeout <= 0", function()
    assert.equal(42, assert(norm{stepTimeout = 42, steps = {{cmd = "a"}}}).steps[1].timeout)
    assert.equal(600, assert(norm{stepTimeout = -1, steps = {{cmd = "a"}}}).steps[1].timeout)
  end)

  it("normalises working directories like acb's normalizeWorkDir", function()
    local task = assert(norm{workingDirectory = "src", steps = {
      {cmd = "a"}, {cmd = "b", workingDirectory = "/abs//x/./y/.."},
      {cmd = "c", workingDirectory = "sub/dir"}}})
    assert.same({"/workspace/src", "/abs/x", "/workspace/sub/dir"},
      {task.steps[1].workingDirectory, task.steps[2].workingDirectory,
       task.steps[3].workingDirectory})
  end)

  it("merges the task env into each step (split on ','), the step's key winning", function()
    local task = assert(norm{env = {"A=1,B=2", "C=3"}, steps = {{cmd = "a", env = {"B=step"}}}})
    assert.same({"B=step", "A=1", "C=3"}, task.steps[1].env)
  end)

  it("rejects env entries without '=' in acb's words", function()
    fails({env = {"A=1,oops"}, steps = {{cmd = "a"}}},
      "cannot parse task environment variable oops correctly")
    fails({env = {"A=1"}, steps = {{cmd = "a", env = {"nope"}}}},
      "cannot parse step environment variable nope correctly")
  end)

  it("normalises push lists: ':latest' added without ':' or '@', duplicates removed", function()
    local task = assert(norm{steps = {{push = {"r/a", "r/a:latest", "r/b:1", "r/c@sha256:ab",
                                               "r/b:1"}}}})
    assert.same({"r/a:latest", "r/b:1", "r/c@sha256:ab"}, task.steps[1].push)
    assert.equal("push", task.steps[1].kind)
  end)

  it("reads YAML 1.1 booleans as yaml.v2 does", function()
    local task = assert(norm{steps = {{cmd = "a", detach = "yes", keep = "off"}}})
    assert.is_true(task.steps[1].detach)
    assert.is_false(task.steps[1].keep)
  end)
end)

describe("task model: dependencies (reference §5.1)", function()
  it("no when: the previous step in the file, whatever its when", function()
    local task = assert(norm{steps = {
      {id = "a", cmd = "x", when = {"-"}}, {id = "b", cmd = "x", when = {"-"}},
      {id = "c", cmd = "x"}, {id = "d", cmd = "x", when = {"a", "c"}}, {id = "e", cmd = "x"}}})
    assert.same({a = {}, b = {}, c = {"b"}, d = {"a", "c"}, e = {"d"}}, deps_of(task))
  end)

  it("the first step without when starts at once", function()
    assert.same({}, assert(norm{steps = {{cmd = "x"}}}).steps[1].deps)
  end)

  it("duplicate when ids count once", function()
    local task = assert(norm{steps = {{id = "a", cmd = "x"}, {id = "b", cmd = "x",
                                                              when = {"a", "a"}}}})
    assert.same({"a"}, task.steps[2].deps)
    assert.same({"a", "a"}, task.steps[2].when)
  end)

  it("order() is a topological order with file order among ready steps", function()
    local task = assert(norm{steps = {
      {id = "late", cmd = "x", when = {"-"}}, {id = "z", cmd = "x", when = {"-"}},
      {id = "y", cmd = "x", when = {"z"}}, {id = "w", cmd = "x", when = {"late", "y"}}}})
    local ids = {}
    for _, s in ipairs(model.order(task)) do ids[#ids + 1] = s.id end
    assert.same({"late", "z", "y", "w"}, ids)
  end)
end)

describe("task model: acb's validation messages", function()
  it("a step with none of cmd, build, push", function()
    fails({steps = {{id = "a"}}}, "step is missing a cmd, build, or push property")
  end)

  it("a step with two of them", function()
    fails({steps = {{cmd = "a", build = "."}}},
      "step must only contain a single build, cmd, or push property")
    fails({steps = {{cmd = "a", push = {"x"}}}},
      "step must only contain a single build, cmd, or push property")
  end)

  it("an unknown or forward when id", function()
    fails({steps = {{id = "a", cmd = "x", when = {"b"}}, {id = "b", cmd = "x"}}},
      "b does not exist as a vertex [from: b, to: a]")
    fails({steps = {{id = "a", cmd = "x", when = {"nope"}}}},
      "nope does not exist as a vertex [from: nope, to: a]")
  end)

  it("a self reference", function()
    fails({steps = {{id = "a", cmd = "x", when = {"a"}}}}, "Step ID: a is self-referenced")
  end)

  it("a duplicate id, also against a later default id", function()
    fails({steps = {{id = "a", cmd = "x"}, {id = "a", cmd = "y"}}}, "a already exists as a vertex")
    fails({steps = {{id = "acb_step_1", cmd = "x"}, {cmd = "y"}}},
      "acb_step_1 already exists as a vertex")
  end)

  it("ids with spaces, '-' mixed with ids, empty when ids, the reserved root", function()
    fails({steps = {{id = "a b", cmd = "x"}}}, "step ID cannot contain spaces")
    fails({steps = {{id = "a", cmd = "x"}, {cmd = "y", when = {"-", "a"}}}},
      "step cannot contain other IDs in when if the immediate execution token is specified")
    fails({steps = {{id = "a", cmd = "x"}, {cmd = "y", when = {""}}}}, "from cannot be empty")
    fails({steps = {{id = "acb_root", cmd = "x"}}}, "acb_root is a reserved ID, it can't be used")
  end)

  it("versions: the three ACR knows, case-insensitively", function()
    assert.truthy(norm{version = "V1.1.0", steps = {{cmd = "a"}}})
    assert.truthy(norm{version = "1.0-preview-1", steps = {{cmd = "a"}}})
    fails({version = "1.0.0-preview", steps = {{cmd = "a"}}},
      'invalid version specified: "1.0.0-preview", the current version is "v1.0.0"')
  end)

  it("retries, repeat, cache", function()
    fails({steps = {{cmd = "a", retries = -1}}}, "step must specify retries >= 0")
    fails({steps = {{cmd = "a", ["repeat"] = -2}}}, "step must specify repeat >= 0")
    fails({steps = {{build = ".", cache = "sometimes"}}},
      "invalid value for cache property. Valid values are 'enabled', 'disabled'")
    assert.truthy(norm{steps = {{build = ".", cache = "Enabled"}}})
  end)

  it("volumes, mounts and secrets", function()
    fails({volumes = {{name = "bad name", secret = {f = "eA=="}}}, steps = {{cmd = "a"}}},
      "volume name is not well formed. Only use alphanumeric and - _")
    fails({volumes = {{name = "v"}}, steps = {{cmd = "a"}}},
      "currently only support for source type secret")
    fails({volumes = {{name = "v", secret = {["a/b"] = "x"}}}, steps = {{cmd = "a"}}},
      "file name, a/b, is not well formed. Only use alphanumeric and - _ .")
    fails({volumes = {{name = "v", secret = {f = "x"}}, {name = "v", secret = {g = "y"}}},
           steps = {{cmd = "a"}}}, "volume with duplicate name found")
    fails({steps = {{cmd = "a", volumeMounts = {{name = "nope", mountPath = "/m"}}}}},
      "mount name, nope, does not correspond to a volume")
    fails({volumes = {{name = "v", secret = {f = "x"}}},
           steps = {{push = {"x"}, volumeMounts = {{name = "v", mountPath = "/m"}}}}},
      "invalid use of Mounts. Mounts must have unique container paths and only used for cmd "
        .. "or build steps")
    fails({volumes = {{name = "v", secret = {f = "x"}}},
           steps = {{cmd = "a", volumeMounts = {{name = "v", mountPath = "/m"},
                                                {name = "v", mountPath = "/m"}}}}},
      "mount with duplicate container file path found")
    fails({secrets = {{id = "s"}}, steps = {{cmd = "a"}}},
      "failed to validate secret with ID: s: secret should contain either keyvault property")
    fails({secrets = {{id = "s", keyvault = "https://v"}, {id = "s", keyvault = "https://w"}},
           steps = {{cmd = "a"}}}, "duplicate secret found with ID: s")
  end)

  it("a null item of a list of volumes, mounts, secrets or networks is an empty one", function()
    -- as Go's yaml decodes `- ~` into a zero struct (a fuzz finding: it was indexed)
    local null = require("regsh.json").null
    fails({volumes = {null}, steps = {{cmd = "a"}}}, "volume name is empty")
    fails({steps = {{cmd = "a", volumeMounts = {null}}}},
      "mount name, , does not correspond to a volume")
    fails({secrets = {null}, steps = {{cmd = "a"}}},
      "secret is missing an ID as well as auto-generated ID")
    fails({networks = {null}, steps = {{cmd = "a"}}}, "name must be specified")
  end)

  it("names the step's place when the caller gives the lines", function()
    local _, err = model.normalize({steps = {{cmd = "a"}, {id = "b"}}},
      {name = "t.yaml", step_lines = {{3, 3}, {4, 3}}})
    assert.equal("ETASK: t.yaml:4:3: step is missing a cmd, build, or push property", err)
  end)
end)

describe("task model: Lua workflows", function()
  it("new/step build the same model, fn steps of kind lua", function()
    local fn = function() end
    local b = model.new{name = "nightly", stepTimeout = 60}
    b:step{id = "a", cmd = "busybox echo hi"}:step{id = "purge", fn = fn, when = {"a"}}
    local task = assert(b:normalize())
    assert.equal("lua", task.steps[2].kind)
    assert.equal(fn, task.steps[2].fn)
    assert.same({"a"}, task.steps[2].deps)
    assert.equal(60, task.steps[1].timeout)
    assert.equal("nightly", task.name)
  end)

  it("fn with cmd is two kinds; in YAML an fn key is ignored", function()
    local b = model.new{}:step{cmd = "x", fn = function() end}
    local _, err = b:normalize()
    assert.truthy(err:find("step must only contain a single build, cmd, push or fn property", 1,
                           true))
    assert.equal("cmd", assert(model.normalize{steps = {{cmd = "x", fn = "f"}}}).steps[1].kind)
  end)

  it("to_json lists id, kind and deps per step", function()
    local task = assert(norm{steps = {{id = "a", cmd = "x"}, {push = {"r/i"}}}})
    local j = model.to_json(task)
    assert.same({"a"}, j.steps[2].deps)
    assert.equal("push", j.steps[2].kind)
    assert.same({"r/i:latest"}, j.steps[2].push)
    assert.equal('[]', require("regsh.json").encode(j.steps[1].deps))
  end)
end)

describe("acr_yaml text stages", function()
  local map = {ID = "{{.Run.ID}}", Registry = "{{.Run.Registry}}", a = "A", b = "B"}

  it("strips '#' lines everywhere, block scalars included", function()
    local text = "steps:\n  - cmd: |\n      #!/bin/sh\n      echo hi\n    # note\n"
    assert.equal("steps:\n  - cmd: |\n      echo hi\n", acr_yaml.strip_comments(text))
  end)

  it("finds the version as FindVersion does, and gates aliases by string order", function()
    assert.equal("v1.1.0", acr_yaml.find_version("# x\nsteps: []\n'version': \"v1.1.0\"\n"))
    assert.equal("", acr_yaml.find_version("  version: v1.1.0\n"))
    assert.is_true(acr_yaml.aliases_enabled("v1.1.0"))
    assert.is_true(acr_yaml.aliases_enabled("v2"))
    assert.is_false(acr_yaml.aliases_enabled("V1.1.0"))
    assert.is_false(acr_yaml.aliases_enabled("v1.0.0"))
    assert.is_false(acr_yaml.aliases_enabled(""))
    assert.is_false(acr_yaml.aliases_enabled("1.0-preview-1"))
  end)

  it("ends an alias name at the first non-alphanumeric character", function()
    assert.equal("{{.Run.Registry}}/foo", acr_yaml.substitute("$Registry/foo", map))
    assert.equal("{{.Run.ID}}.", acr_yaml.substitute("$ID.", map))
    assert.equal("{{.Run.ID}}-x", acr_yaml.substitute("$ID-x", map))
    assert.equal("{{.Run.ID}}", acr_yaml.substitute("$ID", map))
  end)

  it("$$ is one literal $, also before an alias name", function()
    assert.equal("echo $ID $", acr_yaml.substitute("echo $$ID $$", map))
    assert.equal("pid $", acr_yaml.substitute("pid $$", map))
  end)

  it("chains $a$b, but an unknown name ends the chain", function()
    assert.equal("AB", acr_yaml.substitute("$a$b", map))
    assert.equal("$x$b", acr_yaml.substitute("$x$b", map))
  end)

  it("keeps unknown names, $(...), ${...} and $1", function()
    assert.equal("$HOME/x $(date) ${ID} $1 $", acr_yaml.substitute("$HOME/x $(date) ${ID} $1 $",
                                                                     map))
    assert.equal("$my_alias", acr_yaml.substitute("$my_alias", {my = nil}))
    assert.equal("A_alias", acr_yaml.substitute("$a_alias", map))
  end)

  it("splits the alias block from the rest at the next top-level key", function()
    local block, rest = acr_yaml.separate(
      "version: v1.1.0\nalias:\n  values:\n    a: b\n# c\nsteps:\n  - cmd: x\n")
    assert.equal("alias:\n  values:\n    a: b\n", block)
    assert.equal("version: v1.1.0\nsteps:\n  - cmd: x\n", rest)
  end)

  it("a custom directive, and its errors in acb's words", function()
    local m, d = assert(acr_yaml.alias_map("alias:\n  directive: '&'\n  values:\n    x: X\n", {}))
    assert.equal("&", d)
    assert.equal("X $x &", acr_yaml.substitute("&x $x &&", m, d))
    local _, err = acr_yaml.alias_map("alias:\n  directive: '&&'\n", {})
    assert.equal("ETASK: $ directive can only be overwritten by a single character", err)
    _, err = acr_yaml.alias_map("alias:\n  directive: a\n", {})
    assert.equal("ETASK: overwritten directives may not be alphanumeric characters", err)
    _, err = acr_yaml.alias_map("alias:\n  values:\n    my_alias: x\n", {})
    assert.equal("ETASK: alias key names only support alphanumeric characters", err)
    m, d = assert(acr_yaml.alias_map("alias:\n  directive: \"🐳\"\n  values:\n    w: W\n", {}))
    assert.equal("W-🐳", acr_yaml.substitute("🐳w-🐳🐳", m, d))
  end)

  it("precedence: inline values, then src (the last listed first), then built-ins", function()
    local fs = require "regsh.fs"
    local dir = assert(fs.temp_dir("regsh-alias"))
    local function put(name, text)
      local f = assert(io.open(dir .. "/" .. name, "w")); f:write(text); f:close()
    end
    put("one.yaml", "x: one\ny: one\nz: one\nRegistry: mine\n")
    put("two.yaml", "y: two\nz: two\n")
    local fetched = {}
    local m = assert(acr_yaml.alias_map(
      "alias:\n  src:\n    - one.yaml\n    - https://example.invalid/r.yaml\n    - two.yaml\n"
        .. "  values:\n    z: inline\n",
      {base_dir = dir, fetch = function(url) fetched[#fetched + 1] = url; return "w: remote\n" end}))
    fs.remove_tree(dir)
    assert.same({x = "one", y = "two", z = "inline", w = "remote", Registry = "mine"},
      {x = m.x, y = m.y, z = m.z, w = m.w, Registry = m.Registry})
    assert.equal("{{.Run.ID}}", m.ID)
    assert.equal("mcr.microsoft.com/acr/bash:2ff604c", m.bash)
    assert.same({"https://example.invalid/r.yaml"}, fetched)
  end)

  it("image aliases are configurable", function()
    local m = assert(acr_yaml.alias_map("", {image_aliases = {bash = "localhost/bash:1"}}))
    assert.equal("localhost/bash:1", m.bash)
    assert.equal("mcr.microsoft.com/acr/curl:2ff604c", m.curl)
  end)

  it("command aliases replace the first token of each cmd only", function()
    local task = assert(model.normalize{steps = {{cmd = "  bash -c 'bash'"}, {cmd = "busybox bash"},
                                                 {build = "bash ."}}})
    acr_yaml.expand_command_aliases(task, {bash = "img/bash:1"})
    assert.equal("img/bash:1 -c 'bash'", task.steps[1].cmd)
    assert.equal("busybox bash", task.steps[2].cmd)
    assert.equal("bash .", task.steps[3].build)
  end)
end)
