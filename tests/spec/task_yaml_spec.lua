-- Every public ACR task file in tests/fixtures/acr-tasks/ through the whole
-- acr_yaml pipeline: it renders, validates and plans the graph ACR's rules
-- give (written here by hand from reference §5.1, not printed from regsh);
-- the multiarch file is the negative case (a version ACR now rejects).
local acr_yaml = require "regsh.task.acr_yaml"

local DIR = "tests/fixtures/acr-tasks/"
local RUN = {ID = "ca7", Registry = "reg.example.io", RegistryName = "reg", Date = "20260101-000000z",
             SharedVolume = "/ws", OS = "linux", Architecture = "amd64", Commit = "c0ffee",
             Branch = "main", TaskName = "t"}

local function read(name)
  local f = assert(io.open(DIR .. name, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

local function load(name, opts)
  opts = opts or {}
  opts.name, opts.run = name, opts.run or RUN
  opts.values = opts.values or {}
  opts.fetch = opts.fetch or function(url) error("no fetch expected: " .. url) end
  return acr_yaml.load(read(name), opts)
end

-- {id, kind, deps} of each step, in file order
local function graph(task)
  local out = {}
  for _, s in ipairs(task.steps) do out[#out + 1] = {s.id, s.kind, s.deps} end
  return out
end

describe("ACR's public task files", function()
  it("build-aspnetapp: four steps, each after the previous; retries kept", function()
    local task = assert(load("Azure-Samples__acr-tasks__build-aspnetapp__WeatherService__acb.yaml"))
    assert.same({{"acb_step_0", "cmd", {}}, {"acb_step_1", "cmd", {"acb_step_0"}},
                 {"acb_step_2", "build", {"acb_step_1"}}, {"acb_step_3", "push", {"acb_step_2"}}},
                graph(task))
    assert.equal("docker pull reg.example.io/dotnet/core/aspnet:3.1-buster-slim", task.steps[1].cmd)
    assert.same({3, 5}, {task.steps[1].retries, task.steps[1].retryDelay})
    assert.same({"reg.example.io/weatherservice:ca7"}, task.steps[4].push)
  end)

  it("build-test-update-hello-world: hello-world waits only for the second build", function()
    local task = assert(load("Azure-Samples__acr-tasks__build-test-update-hello-world.yaml"))
    assert.same({{"acb_step_0", "build", {}}, {"acb_step_1", "build", {}},
                 {"hello-world", "cmd", {"acb_step_1"}}, {"func-tests", "cmd", {"hello-world"}},
                 {"acb_step_4", "push", {"func-tests"}}, {"acb_step_5", "cmd", {"acb_step_4"}}},
                graph(task))
    assert.same({"test-target=hello-world"}, task.steps[4].env)
    -- a folded scalar: each line break is a space, the lines' trailing spaces stay
    assert.equal("cmd.azurecr.io/helm:v2.11.0-rc.2 update helloworld ./release/helm/  "
      .. "--reuse-values  --set helloworld.image=reg.example.io/hello-world:ca7\n",
      task.steps[6].cmd)
  end)

  it("buildx: build with cache enabled, then push", function()
    local task = assert(load("Azure-Samples__acr-tasks__buildx.yml"))
    assert.same({{"acb_step_0", "build", {}}, {"acb_step_1", "push", {"acb_step_0"}}}, graph(task))
    assert.equal("enabled", task.steps[1].cache)
  end)

  it("files-working-directory: a chain, bash expanded as a command alias", function()
    local task = assert(load("Azure-Samples__acr-tasks__files-working-directory.yaml"))
    assert.same({{"write-file", "cmd", {}}, {"read-file", "cmd", {"write-file"}},
                 {"list-workspace-files", "cmd", {"read-file"}}}, graph(task))
    assert.equal("mcr.microsoft.com/acr/bash:2ff604c -c 'echo $(date) >> hello.txt'",
                 task.steps[1].cmd)
  end)

  it("managed-identities: a chain; Key Vault secrets render empty with a warning", function()
    local task = assert(load("Azure-Samples__acr-tasks__managed-identities.yaml",
                             {values = {registryName = "myreg"}}))
    assert.same({{"acb_step_0", "cmd", {}}, {"acb_step_1", "cmd", {"acb_step_0"}},
                 {"acb_step_2", "push", {"acb_step_1"}}, {"acb_step_3", "cmd", {"acb_step_2"}},
                 {"acb_step_4", "cmd", {"acb_step_3"}}}, graph(task))
    assert.same({"MY_SECRET=''"}, task.steps[1].env)
    assert.equal("mcr.microsoft.com/acr/azure-cli:2ff604c acr repository show-tags -n myreg "
      .. "--repository repo", task.steps[5].cmd)
    assert.equal(1, #task.warnings)
    assert.truthy(task.warnings[1]:find("secret name", 1, true))
    local given = assert(load("Azure-Samples__acr-tasks__managed-identities.yaml",
                              {secrets = {name = "s3cret"}}))
    assert.same({"MY_SECRET='s3cret'"}, given.steps[1].env)
    assert.equal(0, #given.warnings)
  end)

  it("mounts-secrets: no version (v1.0.0, no aliases), a secret volume", function()
    local task = assert(load("Azure-Samples__acr-tasks__mounts-secrets.yaml",
                             {values = {mysecret = "hi"}, secrets = {sampleSecret = "s"}}))
    assert.same({{"acb_step_0", "cmd", {}}}, graph(task))
    assert.equal("v1.0.0", task.version)
    assert.equal("bash cat /run/test/mysecret1 /run/test/mysecret2", task.steps[1].cmd)
    assert.same({{name = "mysecrets", secret = {mysecret1 = "cw==", mysecret2 = "aGk="}}},
                task.volumes)
    assert.same({{name = "mysecrets", mountPath = "/run/test"}}, task.steps[1].volumeMounts)
  end)

  it("network-curl: the curl step waits for the detached nginx", function()
    local task = assert(load("Azure-Samples__acr-tasks__network-curl.yaml"))
    assert.same({{"nginx", "cmd", {}}, {"acb_step_1", "cmd", {"nginx"}}}, graph(task))
    assert.is_true(task.steps[1].detach)
    assert.equal("mcr.microsoft.com/acr/curl:2ff604c --url http://nginx", task.steps[2].cmd)
  end)

  it("when-parallel-dependent: two builds at once, then an explicit chain", function()
    local task = assert(load("Azure-Samples__acr-tasks__when-parallel-dependent.yaml"))
    assert.same({{"build-hello-world", "build", {}}, {"build-hello-world-test", "build", {}},
                 {"hello-world", "cmd", {"build-hello-world"}},
                 {"func-tests", "cmd", {"hello-world"}}, {"acb_step_4", "push", {"func-tests"}}},
                graph(task))
    assert.same({"reg.example.io/hello-world:ca7"}, task.steps[5].push)
  end)

  it("valid-alias (acb's own test file): the graph its header draws; v1.0.0 keeps $qux", function()
    local task = assert(load("Azure__acr-builder__graph__testdata__preprocessor__valid-alias.yaml"))
    assert.same({{"puller", "cmd", {}}, {"build-qux", "cmd", {}}, {"C", "cmd", {}},
                 {"build-bar", "cmd", {}}, {"B", "cmd", {"C"}},
                 {"build-foo", "cmd", {"build-qux"}}, {"build-qaz", "build", {"build-foo"}}},
                graph(task))
    local puller = task.steps[1]
    assert.same({"eric=foo", "foo=bar"}, puller.env)
    assert.same({"eric=foo", "foo=taskEnv"}, task.steps[6].env)
    assert.equal("/workspace/pullDir", puller.workingDirectory)
    assert.same({5, 90, "someEntryPoint"}, {puller.retries, puller.retryDelay, puller.entryPoint})
    assert.equal("azure/images/acr-builder build -f Dockerfile $qux --cache-from=ubuntu",
                 task.steps[2].cmd)
    assert.same({2, true, "root", "host"}, {task.steps[7]["repeat"], task.steps[7].privileged,
                                             task.steps[7].user, task.steps[7].network})
  end)

  it("demo42 web: version 1.0-preview-1 is valid; a chain; env from values", function()
    local task = assert(load("demo42__web__acr-task.yaml", {values = {TENANT = "t1"}}))
    assert.same({{"acb_step_0", "build", {}}, {"acb_step_1", "push", {"acb_step_0"}},
                 {"acb_step_2", "cmd", {"acb_step_1"}}}, graph(task))
    assert.equal("./deploy.sh", task.steps[3].entryPoint)
    assert.equal("TENANT=t1", task.steps[3].env[1])
    assert.equal("RUN_ID=ca7", task.steps[3].env[6])
  end)

  it("multiarch: version 1.0.0-preview is rejected, naming the file and line", function()
    local task, err, code = load("AzureCR__acr-task-multiarch__acr-task.yaml")
    assert.is_nil(task)
    assert.equal("ETASK", code)
    assert.equal('ETASK: AzureCR__acr-task-multiarch__acr-task.yaml:2:1: invalid version '
      .. 'specified: "1.0.0-preview", the current version is "v1.0.0"', err)
  end)

  it("every file renders to YAML without its comment lines", function()
    for name in io.popen("ls " .. DIR):lines() do
      local text = acr_yaml.render(read(name), {name = name, run = RUN, values = {}})
      assert.is_string(text, name)
      assert.is_nil(text:find("# source:", 1, true), name)
      assert.truthy(text:find("steps:", 1, true), name)
    end
  end)
end)

describe("acr_yaml.load: the pipeline's order", function()
  local function try(text, opts)
    opts = opts or {}
    opts.name = opts.name or "t.yaml"
    opts.run = opts.run or RUN
    return acr_yaml.load(text, opts)
  end

  it("aliases run before the template: $ in rendered values is not expanded", function()
    local task = assert(try("version: v1.1.0\nsteps:\n  - cmd: x {{.Values.v}} $ID\n",
                            {values = {v = "$ID"}}))
    assert.equal("x $ID ca7", task.steps[1].cmd)
  end)

  it("v1.0.0 and V1.1.0 leave $ID alone", function()
    assert.equal("x $ID", assert(try("version: v1.0.0\nsteps:\n  - cmd: x $ID\n")).steps[1].cmd)
    assert.equal("x $ID", assert(try("version: V1.1.0\nsteps:\n  - cmd: x $ID\n")).steps[1].cmd)
  end)

  it("alias values are templates themselves", function()
    local task = assert(try("version: v1.1.0\nalias:\n  values:\n    img: '{{.Run.Registry}}/i'\n"
      .. "steps:\n  - cmd: $img:1\n  - cmd: img run\n"))
    assert.equal("reg.example.io/i:1", task.steps[1].cmd)
    assert.equal("reg.example.io/i run", task.steps[2].cmd)
  end)

  it("a '#' line inside a block scalar is gone", function()
    local task = assert(try("steps:\n  - cmd: |\n      sh -c\n      # not a comment to sh\n"
      .. "      done\n"))
    assert.equal("sh -c\ndone\n", task.steps[1].cmd)
  end)

  it("the last duplicate top-level key wins (the CLI prepends version)", function()
    local task = assert(try("version: v1.1.0\nversion: v1.0.0\nsteps:\n  - cmd: a $ID\n"))
    assert.equal("v1.0.0", task.version)
    assert.equal("a ca7", task.steps[1].cmd)   -- the first version line decided the aliases
  end)

  it("bad YAML: one line with the file's own line:column (comments counted)", function()
    local _, err, code = try("# c\nversion: v1.1.0\n# c\nsteps:\n  - cmd: a\n    when: [x\n")
    assert.equal("ETASK", code)
    assert.truthy(err:match("^ETASK: t%.yaml:7:%d+: "), err)
  end)

  it("step errors point at the step", function()
    local _, err = try("# c\nsteps:\n  - cmd: a\n\n  - id: b\n    when: [nope]\n    cmd: x\n")
    assert.equal("ETASK: t.yaml:5:3: nope does not exist as a vertex [from: nope, to: b]", err)
  end)

  it("an empty render is ACR's error; a file of comments is an empty task", function()
    local _, err, code = try("{{if false}}x{{end}}")
    assert.equal("ETASK", code)
    assert.equal("ETASK: t.yaml: rendered template was empty", err)
    assert.same({}, assert(try("# only\n# comments\n")).steps)
  end)

  it("template errors are ETEMPLATE", function()
    local _, err, code = try("steps:\n  - cmd: {{.Run.ID\n")
    assert.equal("ETEMPLATE", code)
    assert.truthy(err:find("t.yaml", 1, true), err)
  end)

  it("unknown keys are ignored, a sequence is not a task", function()
    assert.truthy(try("totalTimeout: 5\nsteps:\n  - cmd: a\n    retry: 3\n"))
    local _, err = try("- cmd: a\n")
    assert.truthy(err:find("a task is a mapping", 1, true))
  end)
end)
