-- `regsh task render|plan|lint` run as commands: output, exit status, and
-- bad input as one line naming the file and line:column.
local cmd = require "support.cmd"
local json = require "regsh.json"

local DIR = "tests/fixtures/acr-tasks/"

local function regsh(args, stdin)
  return cmd.sh(cmd.quote(cmd.bin) .. " task " .. args, stdin)
end

local function lines(s)
  local out = {}
  for line in s:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

describe("regsh task", function()
  it("render prints the YAML with aliases, values and the registry filled in", function()
    local out, status = regsh("render " .. DIR .. "Azure-Samples__acr-tasks__buildx.yml "
      .. "-r 127.0.0.1:5000 --id ca9")
    assert.equal(0, status)
    assert.equal("version: v1.1.0\nsteps:\n  - build: -t 127.0.0.1:5000/hello-world:ca9 -f "
      .. "hello-world.dockerfile .\n    cache: enabled\n  - push: \n    - "
      .. "\"127.0.0.1:5000/hello-world:ca9\"\n", out)
  end)

  it("plan -o json: each step with id, kind and deps", function()
    local out, status = regsh("plan " .. DIR
      .. "Azure-Samples__acr-tasks__when-parallel-dependent.yaml -r r.io -o json")
    assert.equal(0, status)
    local plan = json.decode(out)
    local got = {}
    for _, s in ipairs(plan.steps) do got[#got + 1] = {s.id, s.kind, s.deps} end
    assert.same({{"build-hello-world", "build", {}}, {"build-hello-world-test", "build", {}},
                 {"hello-world", "cmd", {"build-hello-world"}},
                 {"func-tests", "cmd", {"hello-world"}}, {"acb_step_4", "push", {"func-tests"}}},
                got)
    assert.same({"r.io/hello-world:dryrun"}, plan.steps[5].push)
  end)

  it("plan: --values and --set (which wins) reach .Values", function()
    local values = cmd.temp_file("registryName: fromfile\nother: x\n")
    local task = cmd.temp_file("steps:\n  - cmd: img {{.Values.registryName}} {{.Values.other}}"
      .. " {{.Values.s}}\n")
    local out, status = regsh("plan " .. task .. " --values " .. values
      .. " --set registryName=fromset --set-secret s=hush -o json")
    os.remove(values); os.remove(task)
    assert.equal(0, status)
    assert.equal("img fromset x hush", json.decode(out).steps[1].cmd)
  end)

  it("plan (text): one line a step with what it waits for", function()
    local out, status = regsh("plan " .. DIR
      .. "Azure-Samples__acr-tasks__build-test-update-hello-world.yaml")
    assert.equal(0, status)
    local l = lines(out)
    assert.equal(7, #l)
    assert.truthy(l[4]:match("^hello%-world%s+cmd%s+acb_step_1%s"), l[4])
    assert.truthy(l[2]:match("^acb_step_0%s+build%s+%-%s"), l[2])
  end)

  it("lint warns about the racy implicit dependency, exit 0", function()
    local out, status, err = regsh("lint " .. DIR
      .. "Azure-Samples__acr-tasks__build-test-update-hello-world.yaml")
    assert.equal(0, status)
    assert.equal("", err)
    assert.equal(DIR .. "Azure-Samples__acr-tasks__build-test-update-hello-world.yaml:10: step "
      .. "hello-world has no when: it waits only for the previous step acb_step_1 (not for "
      .. "acb_step_0, which also started at once); list its dependencies in when\n", out)
  end)

  it("lint: duplicate when ids, clobbered shell variables, unknown and dead keys", function()
    local task = cmd.temp_file(table.concat({
      "version: v1.1.0",
      "totalTimeout: 100",
      "steps:",
      "  - id: a",
      "    cmd: bash -c 'echo $ID $$OS'",
      "    retry: 3",
      "    exitedWith: [0]",
      "  - id: b",
      "    cmd: x",
      "    when: [a, a]",
      "    secret: s",
      ""}, "\n"))
    local out, status = regsh("lint " .. task .. " --id ca1")
    os.remove(task)
    assert.equal(0, status)
    local l = lines(out)
    local text = table.concat(l, "\n")
    assert.truthy(text:find(":2: totalTimeout was removed", 1, true), text)
    assert.truthy(text:find(":5: $ID inside a quoted shell string is replaced by the alias ID",
                            1, true), text)
    assert.is_nil(text:find("$OS inside", 1, true), text)
    assert.truthy(text:find(":6: step a: unknown key retry (ignored); did you mean retries?", 1,
                            true), text)
    assert.truthy(text:find(":7: step a: exitedWith is parsed but was never implemented", 1,
                            true), text)
    assert.truthy(text:find(":10: step b: when lists a more than once", 1, true), text)
    assert.truthy(text:find(":11: step b: steps have no secret property", 1, true), text)
    assert.equal(6, #l)
  end)

  it("lint: aliases a v1.0.0 file uses stay literal", function()
    local out, status = regsh("lint " .. DIR
      .. "Azure__acr-builder__graph__testdata__preprocessor__valid-alias.yaml")
    assert.equal(0, status)
    assert.truthy(out:find(":39: $qux looks like an alias, but version \"v1.0.0\" turns aliases off",
                           1, true), out)
    assert.truthy(out:find(":20: unknown top-level key test (ignored)", 1, true), out)
  end)

  it("bad input: one line naming the file and line:column, exit 1", function()
    local task = cmd.temp_file("version: v1.1.0\nsteps:\n  - cmd: a\n  - cmd: b\n    when: [x]\n")
    for _, sub in ipairs({"plan", "lint"}) do
      local out, status, err = regsh(sub .. " " .. task)
      assert.equal(1, status)
      assert.equal("", out)
      assert.equal("regsh task: ETASK: " .. task .. ":4:3: x does not exist as a vertex "
        .. "[from: x, to: acb_step_1]\n", err)
    end
    local bad = cmd.temp_file("steps:\n  - cmd: a\n  b: [\n")
    local _, status, err = regsh("render " .. bad)
    assert.equal(0, status)   -- render stops before decoding
    _, status, err = regsh("plan " .. bad)
    assert.equal(1, status)
    assert.truthy(err:match("^regsh task: ETASK: " .. bad:gsub("%p", "%%%0") .. ":%d+:%d+: "), err)
    assert.equal(1, #lines(err))
    os.remove(task); os.remove(bad)
  end)

  it("a missing file, a bad --set, the multiarch file's version", function()
    local _, status, err = regsh("plan /nonexistent/acb.yaml")
    assert.equal(1, status)
    assert.truthy(err:match("^regsh task: ENOENT: /nonexistent/acb.yaml"), err)
    _, status, err = regsh("plan " .. DIR .. "Azure-Samples__acr-tasks__buildx.yml --set novalue")
    assert.equal(1, status)
    assert.truthy(err:find("--set", 1, true), err)
    _, status, err = regsh("plan " .. DIR .. "AzureCR__acr-task-multiarch__acr-task.yaml")
    assert.equal(1, status)
    assert.equal("regsh task: ETASK: " .. DIR .. "AzureCR__acr-task-multiarch__acr-task.yaml:2:1: "
      .. "invalid version specified: \"1.0.0-preview\", the current version is \"v1.0.0\"\n", err)
  end)
end)
