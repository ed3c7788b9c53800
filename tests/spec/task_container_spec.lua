-- regsh.task.exec_container with a real podman: argv for every step option
-- (pure), images checked before anything starts, networks and volumes made
-- and removed by label, a detached server reached by its step id, a push to a
-- real registry, and the reaper cleaning up after a kill -9 of regsh.
local exec_container = require "regsh.task.exec_container"
local fs = require "regsh.fs"
local json = require "regsh.json"
local proc = require "regsh.proc"
local cmd = require "support.cmd"
local images = require "support.images"
local registry = require "support.registry"

local support_podman = require "support.podman"

local BUSYBOX = support_podman.BUSYBOX
local CONTAINERS_CONF = support_podman.CONTAINERS_CONF
local ENV = support_podman.ENV
local podman, leftovers = support_podman.run, support_podman.leftovers

-- run what the executor returns as the runner would (drop_stderr is the
-- runner's: it filters the engine's noise out of the step's output)
local function run_argv(argv, opts, extra)
  local spec = {argv = argv}
  for k, v in pairs(opts or {}) do
    if k ~= "drop_stderr" then spec[k] = v end
  end
  for k, v in pairs(extra or {}) do spec[k] = v end
  spec.timeout = spec.timeout or 120
  return assert(proc.run(spec))
end

local function new_run(task, id)
  local ws = assert(fs.temp_dir("regsh-ws"))
  return {id = id or "ca1", task = task, workspace = ws}
end

local function index_of(list, value, from)
  for i = from or 1, #list do if list[i] == value then return i end end
end

describe("the container executor", function()
  setup(function() images.require_podman() end)

  local ex
  before_each(function() ex = assert(exec_container.new{env = ENV}) end)

  describe("new", function()
    it("finds the engine, or fails ECONTAINER naming it", function()
      assert.equal("podman", ex.kind)
      assert.matches("/podman$", ex.binary)
      local e, err, code = exec_container.new{engine = "docker", binary = "/nonexistent/docker"}
      assert.is_nil(e)
      assert.equal("ECONTAINER", code)
      assert.equal("ECONTAINER: docker not found (/nonexistent/docker): the container executor"
        .. " needs the docker CLI", err)
      assert.has_error(function() exec_container.new{engine = "rkt"} end,
        "bad argument #1 to 'new' (engine must be 'podman' or 'docker', got 'rkt')")
    end)
  end)

  describe("argv (pure)", function()
    local run
    before_each(function()
      run = {id = "ca7", task = {name = "nightly", steps = {}}, workspace = "/tmp/ws"}
    end)

    it("puts every step option in ACR's order, then the cmd's words", function()
      local step = {id = "web", kind = "cmd", keep = false, detach = true,
        ports = {"8080:80", "'9090:90'"}, expose = {"80"}, privileged = true, user = "1000:1000",
        cpus = "2", entryPoint = "sh", volumeMounts = {{name = "creds", mountPath = "/run/creds"}},
        env = {"A=1", "MY_SECRET='x y'"}, workingDirectory = "/workspace/sub",
        cmd = "-t --name=other -p 81:81 " .. BUSYBOX .. " -c 'echo $HOME; exit 3'"}
      local argv, opts = ex:argv(run, step, 1)
      local key = run.container_key
      assert.matches("^ca7%-%x%x%x%x%x%x$", key)
      assert.same({ex.binary, "run", "--rm", "--detach", "-p", "8080:80", "-p", "9090:90",
        "--expose", "80", "--privileged", "--user", "1000:1000",
        "--network", "regsh_" .. key, "--network-alias", "web", "--cpus", "2",
        "--entrypoint", "sh", "--name", key .. "_web",
        "--label", "regsh.run=ca7", "--label", "regsh.task=nightly", "--label", "regsh.key=" .. key,
        "--label", "regsh.owner=" .. exec_container.owner(), "--label", "regsh.step=web",
        "--volume", "/tmp/ws:/workspace", "--volume", key .. "_home:/acb/home",
        "--volume", "<run dir>/volumes/creds:/run/creds",
        "--env", "HOME=/acb/home", "--env", "A=1", "--env", "MY_SECRET=x y",
        "--workdir", "/workspace/sub",
        "-t", "--name=other", "-p", "81:81", BUSYBOX, "-c", "echo $HOME; exit 3"}, argv)
      assert.equal(CONTAINERS_CONF, opts.env.CONTAINERS_CONF)
      assert.is_true(opts.env_merge)
    end)

    it("leaves out what a step does not ask for", function()
      local argv = ex:argv(run, {id = "s", kind = "cmd", keep = true, cmd = "img echo hi",
        disableWorkingDirectoryOverride = true}, 1)
      assert.is_nil(index_of(argv, "--rm"))
      assert.is_nil(index_of(argv, "--detach"))
      assert.is_nil(index_of(argv, "--workdir"))
      assert.is_nil(index_of(argv, "--entrypoint"))
      assert.same({"img", "echo", "hi"}, {table.unpack(argv, #argv - 2)})
      -- a kept container's retry gets a name of its own
      local again = ex:argv(run, {id = "s", kind = "cmd", keep = true, cmd = "img"}, 2)
      assert.equal(run.container_key .. "_s_2", again[index_of(again, "--name") + 1])
    end)

    it("gives the step id as a DNS alias on user networks only", function()
      local argv = ex:argv(run, {id = "h", kind = "cmd", network = "host", cmd = "img"}, 1)
      assert.equal("host", argv[index_of(argv, "--network") + 1])
      assert.is_nil(index_of(argv, "--network-alias"))
      run.task.networks = {{name = "a"}, {name = "b", isDefault = true}, {name = "c"}}
      argv = ex:argv(run, {id = "n", kind = "cmd", cmd = "img"}, 1)
      assert.equal("b", argv[index_of(argv, "--network") + 1])
      assert.equal("n", argv[index_of(argv, "--network-alias") + 1])
      run.task.networks = {{name = "a"}}   -- declared, none default: no --network (ACR §1.2)
      argv = ex:argv(run, {id = "n", kind = "cmd", cmd = "img"}, 1)
      assert.is_nil(index_of(argv, "--network"))
      assert.is_nil(index_of(argv, "--network-alias"))
    end)

    it("pulls with --tls-verify=false only from loopback or insecure registries", function()
      local function tls(image)
        return index_of(ex:argv(run, {id = "s", kind = "cmd", cmd = image .. " x"}, 1),
          "--tls-verify=false")
      end
      assert.equal(3, tls("127.0.0.1:5000/acr"))   -- podman run --tls-verify=false ...
      assert.truthy(tls("localhost:5000/acr:v1"))
      assert.truthy(tls("[::1]:5000/acr"))
      assert.is_nil(tls("reg.example.com/acr"))
      assert.is_nil(tls("busybox"))
      assert.is_nil(tls(BUSYBOX))   -- localhost/name: podman's own images, never pulled
      ex.registry_insecure = function(host) return host == "reg.example.com" end
      assert.truthy(tls("reg.example.com/acr"))
      assert.is_nil(tls("other.example.com/acr"))
      local docker = assert(exec_container.new{engine = "docker", binary = ex.binary})
      assert.is_nil(index_of(docker:argv(run, {id = "s", kind = "cmd", cmd = "127.0.0.1:5000/a"}, 1),
        "--tls-verify=false"))
    end)

    it("runs a step that names the run's loopback registry on the host network", function()
      run.registry = "127.0.0.1:5000"
      local function network(cmd, step_network)
        local argv = ex:argv(run, {id = "p", kind = "cmd", cmd = cmd, network = step_network}, 1)
        return argv[index_of(argv, "--network") + 1], index_of(argv, "--network-alias")
      end
      local net, alias = network("127.0.0.1:5000/acr purge -r 127.0.0.1:5000 --ago 10d")
      assert.equal("host", net)
      assert.is_nil(alias)   -- no step-id DNS alias on the host network
      assert.equal("host", network("-e REG=127.0.0.1:5000 img"))
      -- the image alone comes from the registry: the engine pulls it on the host
      assert.equal("regsh_" .. run.container_key, network("127.0.0.1:5000/acr purge --help"))
      assert.equal("regsh_" .. run.container_key, network("byrnedo/alpine-curl --url http://app:80"))
      assert.equal("mine", network("img -r 127.0.0.1:5000", "mine"))   -- the step's own wins
      run.registry = "reg.example.com"   -- not loopback: a bridge reaches it
      assert.equal("regsh_" .. run.container_key, network("img -r reg.example.com"))
    end)

    it("finds the image after docker run flags with and without values", function()
      for line, image in pairs({
        ["img a"] = "img", ["-it img a"] = "img", ["-e K=V img"] = "img", ["-eK=V img"] = "img",
        ["--name x img"] = "img", ["--name=x img"] = "img", ["--rm -p 80:80 -d img -p"] = "img",
        ["-t reg/hello:v1"] = "reg/hello:v1", ["--init -v a:/b -w /x img"] = "img",
      }) do
        local argv = ex:argv(run, {id = "s", kind = "cmd", cmd = line}, 1)
        local words = require("regsh.task.shellwords").split(line)
        assert.same(words, {table.unpack(argv, #argv - #words + 1)}, line)
        local parsed = require("regsh.task.docker_flags").parse(words,
          require("regsh.task.docker_flags").RUN)
        assert.equal(image, words[parsed.positional[1]], line)
      end
      assert.has_error(function() ex:argv(run, {id = "s", kind = "cmd", cmd = "-e K=V"}, 1) end,
        "step s: cmd names no image")
      assert.has_error(function() ex:argv(run, {id = "s", kind = "cmd", cmd = "img 'x"}, 1) end,
        "step s: cmd: unterminated single quote at column 5")
    end)

    it("builds on the host in the workspace with the step env as process env", function()
      local argv, opts = ex:argv(run, {id = "b", kind = "build", workingDirectory = "/workspace/app",
        env = {"FOO='a b'"}, build = "-t 127.0.0.1:5000/x:v1 --build-arg V=1 -f Dockerfile ."}, 1)
      -- no --label: that would stamp the run's labels into the user's image
      assert.same({ex.binary, "build",
        "-t", "127.0.0.1:5000/x:v1", "--build-arg", "V=1", "-f", "Dockerfile", "."}, argv)
      assert.equal("/tmp/ws/app", opts.cwd)
      assert.equal("a b", opts.env.FOO)
      assert.is_nil(opts.env.DOCKER_BUILDKIT)   -- docker only
    end)

    it("pushes with --tls-verify=false only to loopback or insecure registries", function()
      ex.credentials = function() return nil end
      local argv = ex:push_argv(run, "127.0.0.1:5000/app:v1")
      assert.same({ex.binary, "push", "--tls-verify=false", "127.0.0.1:5000/app:v1"}, argv)
      argv = ex:push_argv(run, "localhost:5000/app:v1")
      assert.truthy(index_of(argv, "--tls-verify=false"))
      argv = ex:push_argv(run, "reg.example.com/app:v1")
      assert.same({ex.binary, "push", "reg.example.com/app:v1"}, argv)
      ex.registry_insecure = function(host) return host == "reg.example.com" end
      argv = ex:push_argv(run, "reg.example.com/app:v1")
      assert.truthy(index_of(argv, "--tls-verify=false"))
      argv = ex:push_argv(run, "other.example.com/app:v1")
      assert.is_nil(index_of(argv, "--tls-verify=false"))
      ex:cleanup(run)
    end)

    it("speaks docker's dialect where it differs", function()
      local docker = assert(exec_container.new{engine = "docker", binary = ex.binary})
      docker.credentials = function() return {username = "u", password = "p"} end
      local argv = docker:push_argv(run, "127.0.0.1:5000/app:v1")
      assert.equal("--config", argv[2])
      assert.same({"push", "127.0.0.1:5000/app:v1"}, {argv[4], argv[5]})
      assert.is_nil(index_of(argv, "--tls-verify=false"))   -- dockerd trusts loopback itself
      local _, opts = docker:argv(run, {id = "b", kind = "build", build = "."}, 1)
      assert.equal("0", opts.env.DOCKER_BUILDKIT)
      argv = docker:argv(run, {id = "w", kind = "cmd", isolation = "hyperv", cmd = "img"}, 1)
      assert.equal("hyperv", argv[index_of(argv, "--isolation") + 1])
      docker:cleanup(run)   -- its auth file goes with the run's private directory
    end)
  end)

  describe("check", function()
    it("refuses a missing image before anything starts", function()
      local ok, err, code = ex:check{steps = {
        {id = "fine", kind = "cmd", cmd = BUSYBOX .. " true"},
        {id = "bad", kind = "cmd", cmd = "--rm -e A=1 localhost/regsh-test/no-such-image:v9 true"},
      }}
      assert.is_nil(ok)
      assert.equal("ECONTAINER", code)
      assert.equal("ECONTAINER: step bad: image localhost/regsh-test/no-such-image:v9 does not"
        .. " exist locally, nor in its registry (a short name is looked up locally only)", err)
    end)

    it("accepts a missing image that the step pulls or an earlier build tags", function()
      assert.is_true(ex:check{steps = {
        {id = "p", kind = "cmd", pull = true, cmd = "localhost/regsh-test/no-such-image:v9"},
        {id = "b", kind = "build", build = "-t localhost/regsh-test/built-here ."},
        {id = "use", kind = "cmd", cmd = "localhost/regsh-test/built-here:latest true"},
      }})
      local ok, err = ex:check{steps = {
        {id = "use", kind = "cmd", cmd = "localhost/regsh-test/built-later true"},
        {id = "b", kind = "build", build = "--tag localhost/regsh-test/built-later ."},
      }}
      assert.is_nil(ok)
      assert.matches("step use: image localhost/regsh%-test/built%-later does not exist", err)
    end)
  end)

  describe("prepare and cleanup", function()
    it("label the network, home volume and secret volume, and leave nothing", function()
      local task = {name = "secrets", volumes = {{name = "creds",
        secret = {["token.txt"] = "czNjcjN0", ["user"] = "Ym9i"}}}, steps = {}}
      local run = new_run(task, "ca2")
      finally(function()
        ex:cleanup(run)
        fs.remove_tree(run.workspace)
      end)
      assert.is_true(ex:prepare(run))
      local key = run.container_key
      local made = leftovers("regsh.key=" .. key)
      table.sort(made)
      assert.same({key .. "_home", "regsh_" .. key}, made)
      local step = {id = "read", kind = "cmd", cmd = BUSYBOX .. " cat /run/creds/token.txt",
        volumeMounts = {{name = "creds", mountPath = "/run/creds"}}}
      local r = run_argv(ex:argv(run, step, 1))
      assert.is_true(r.ok, r.stderr)
      assert.equal("s3cr3t", r.stdout)
      local dir = ex:state(run).dir
      assert.equal("directory", fs.stat(dir).type)
      -- a kept container is there until cleanup
      step = {id = "kept", kind = "cmd", keep = true, cmd = BUSYBOX .. " true"}
      assert.is_true(run_argv(ex:argv(run, step, 1)).ok)
      local report = ex:cleanup(run)
      assert.same({key .. "_kept"}, report.containers)
      assert.same({"regsh_" .. key}, report.networks)
      assert.same({key .. "_home"}, report.volumes)
      assert.same({}, report.errors)
      assert.same({}, leftovers("regsh.key=" .. key))
      assert.is_nil(fs.stat(dir))
      assert.same({containers = {}, networks = {}, volumes = {}, errors = {}}, ex:cleanup(run))
    end)

    it("creates declared networks unless skipCreation, and removes only those", function()
      local run = new_run({name = "nets", steps = {}, networks = {
        {name = "regsh-spec-own-net", isDefault = true},
        {name = "podman", skipCreation = true}}}, "ca3")
      finally(function()
        ex:cleanup(run)
        fs.remove_tree(run.workspace)
      end)
      assert.is_true(ex:prepare(run))
      assert.same({"regsh-spec-own-net"},
        (function()
          local l = {}
          for n in podman("network", "ls", "-q", "--filter", "label=regsh.key=" .. run.container_key)
              :gmatch("[^\n]+") do l[#l + 1] = n end
          return l
        end)())
      local report = ex:cleanup(run)
      assert.same({"regsh-spec-own-net"}, report.networks)
      assert.truthy(podman("network", "ls", "-q"):find("podman", 1, true))
    end)
  end)

  it("runs a detached server that another step reaches by its step id", function()
    local task = {name = "web", steps = {}}
    local run = new_run(task, "ca4")
    assert(fs.write_atomic(run.workspace .. "/index.html", "hello from app\n"))
    finally(function()
      ex:cleanup(run)
      fs.remove_tree(run.workspace)
    end)
    assert.is_true(ex:prepare(run))
    local app = {id = "app", kind = "cmd", detach = true,
      cmd = BUSYBOX .. " httpd -f -p 80 -h /workspace"}
    local r = run_argv(ex:argv(run, app, 1))
    assert.is_true(r.ok, r.stderr)
    assert.is_true(ex:detached(run, app))
    local fetch = {id = "fetch", kind = "cmd",
      cmd = BUSYBOX .. " wget -q -O - http://app:80/index.html"}
    r = run_argv(ex:argv(run, fetch, 1))
    assert.is_true(r.ok, r.stderr)
    assert.equal("hello from app\n", r.stdout)
    local report = ex:cleanup(run)
    assert.same({run.container_key .. "_app"}, report.containers)
    assert.is_false(ex:detached(run, app))
    assert.same({}, leftovers("regsh.key=" .. run.container_key))
  end)

  describe("push", function()
    local reg
    setup(function() reg = registry.start{htpasswd = {bob = "b0b-pass"}} end)
    teardown(function() registry.stop(reg) end)

    it("pushes a built image with credentials in a private auth file, never on argv", function()
      local image = reg.host .. "/scratchy:v1"
      local run = new_run({name = "push", steps = {}}, "ca5")
      finally(function()
        ex:cleanup(run)
        fs.remove_tree(run.workspace)
        proc.run{argv = {"podman", "rmi", "-f", image}, env = ENV, env_merge = true}
      end)
      assert(fs.write_atomic(run.workspace .. "/Dockerfile",
        "FROM " .. BUSYBOX .. "\nCOPY hello.txt /hello.txt\n"))
      assert(fs.write_atomic(run.workspace .. "/hello.txt", "hi\n"))
      ex.credentials = function(host)
        assert.equal(reg.host, host)
        return {username = "bob", password = require("regsh.registry.redact").secret("b0b-pass")}
      end
      assert.is_true(ex:prepare(run))
      local r = run_argv(ex:argv(run, {id = "b", kind = "build", build = "-t " .. image .. " ."}, 1))
      assert.is_true(r.ok, r.stderr)
      local argv, opts = ex:push_argv(run, image)
      for _, a in ipairs(argv) do assert.is_nil(a:find("b0b-pass", 1, true), a) end
      local authfile = argv[index_of(argv, "--authfile") + 1]
      assert.equal(tonumber("600", 8), fs.stat(authfile).mode & tonumber("777", 8))
      assert.truthy(assert(fs.read_file(authfile)):find("Ym9iOmIwYi1wYXNz", 1, true))
      r = run_argv(argv, opts)
      assert.is_true(r.ok, r.stderr)
      local client = regsh.registry.open(reg.host, {username = "bob", password = "b0b-pass"})
      assert.matches("^sha256:", assert(client:head("scratchy", "v1")).digest)
      -- without the auth file the registry refuses it
      ex.credentials = function() return nil end
      r = run_argv(ex:push_argv(run, image))
      assert.is_false(r.ok)
      ex:cleanup(run)
      assert.is_nil(fs.stat(authfile))
    end)
  end)

  describe("the reaper", function()
    -- a regsh that prepares a run, starts the reaper and a long-lived
    -- container, prints the run's key and waits to be killed
    local script = [[
      local ec = require "regsh.task.exec_container"
      local fs = require "regsh.fs"
      local ex = assert(ec.new{env = {CONTAINERS_CONF = arg[1]}})
      local run = {id = "ca6", task = {name = "doomed", steps = {}},
                   workspace = assert(fs.temp_dir("regsh-ws"))}
      assert(ex:prepare(run))
      local reaper = assert(ex:start_reaper(run))
      local argv, opts = ex:argv(run, {id = "sleeper", kind = "cmd", detach = true,
        cmd = "]] .. BUSYBOX .. [[ sleep 600"}, 1)
      opts.argv, opts.drop_stderr = argv, nil
      assert(assert(require("regsh.proc").run(opts)).ok)
      if arg[2] == "stop" then
        reaper:stop()
        print(require("regsh.json").encode(ex:cleanup(run).containers))
        print("reaper=" .. reaper:pid())
        return
      end
      print("key=" .. run.container_key .. " reaper=" .. reaper:pid())
      io.stdout:flush()
      require("regsh.async").sleep(600)
    ]]

    it("removes the labelled container and network after a kill -9 of regsh", function()
      local path = cmd.temp_file(script)
      finally(function() os.remove(path) end)
      local key, reaper
      local p <close> = assert(proc.spawn{cmd.bin, path, CONTAINERS_CONF,
        on_stdout = function(line)
          key, reaper = line:match("^key=(%S+) reaper=(%d+)")
          if key then error("ready", 0) end
        end})
      local ok, err = pcall(p.wait, p)
      assert.is_false(ok)
      assert.equal("ready", err, "the script failed before it was ready")
      finally(function() if key then ex:cleanup_key(key) end end)
      local made = leftovers("regsh.key=" .. key)
      table.sort(made)
      assert.same({key .. "_home", key .. "_sleeper", "regsh_" .. key}, made)
      assert.truthy(exec_container.start_time(tonumber(reaper)))
      p:kill("SIGKILL")
      assert.equal("SIGKILL", p:wait().signal)
      -- the reaper notices within a poll and removes everything, then ends
      local deadline = regsh.monotonic() + 60
      while exec_container.start_time(tonumber(reaper)) and regsh.monotonic() < deadline do
        regsh.sleep(0.1)
      end
      assert.is_nil(exec_container.start_time(tonumber(reaper)), "the reaper is still running")
      assert.same({}, leftovers("regsh.key=" .. key))
    end)

    it("stops at a normal end and leaves the cleanup to the runner", function()
      local path = cmd.temp_file(script)
      finally(function() os.remove(path) end)
      local r = assert(proc.run{cmd.bin, path, CONTAINERS_CONF, "stop"})
      assert.is_true(r.ok, r.stderr)
      local removed, reaper = r.stdout:match("^(%b[])\nreaper=(%d+)\n$")
      assert.truthy(removed, r.stdout)
      assert.equal(1, #json.decode(removed))
      assert.matches("_sleeper$", json.decode(removed)[1])
      assert.is_nil(exec_container.start_time(tonumber(reaper)))
    end)
  end)
end)
