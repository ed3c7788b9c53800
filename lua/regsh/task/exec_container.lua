-- regsh.task.exec_container: the executor that runs a task's steps in
-- containers with the podman or docker CLI (the same argv for both but where
-- noted). It builds argv (the runner spawns them), checks images before the
-- run, makes and removes the run's networks and volumes by label, and starts
-- the reaper (regsh.task.reaper) that cleans up after a kill -9 of regsh.
-- docs/reference/task.md, "Container executor", says how and where ACR differs.
local flags = require "regsh.task.docker_flags"
local fs = require "regsh.fs"
local json = require "regsh.json"
local proc = require "regsh.proc"
local shellwords = require "regsh.task.shellwords"

local M = {}
local Executor = {}
Executor.__index = Executor
local Reaper = {}
Reaper.__index = Reaper

local function fail(fmt, ...)
  return nil, "ECONTAINER: " .. string.format(fmt, ...), "ECONTAINER"
end

-- networks that are not user-defined bridges: no --network-alias there
local NO_ALIAS = {host = true, none = true, bridge = true, podman = true, default = true,
                  private = true, slirp4netns = true, pasta = true}
local function takes_alias(network)
  return not (NO_ALIAS[network] or network:find("^container:") or network:find("^ns:")
    or network:find("^slirp4netns:") or network:find("^pasta:"))
end

local function executable(path)
  local st = fs.stat(path)
  return st and st.type == "file" and (st.mode or 0) & 73 ~= 0  -- any x bit (0111)
end

-- the program's path in $PATH, or nil
local function find_binary(name)
  if name:find("/", 1, true) then return executable(name) and name or nil end
  for dir in ((os.getenv("PATH") or "/usr/bin:/bin") .. ":"):gmatch("([^:]*):") do
    local path = (dir == "" and "." or dir) .. "/" .. name
    if executable(path) then return path end
  end
end

--- new{engine = "podman"|"docker", binary = path, env = {K = V}, registry_insecure = fn(host),
--- credentials = fn(host) -> {username=, password=} | nil} -> executor | fail.
--- env is laid over regsh's environment for every engine process (CONTAINERS_CONF, ...).
function M.new(opts)
  opts = opts or {}
  local engine = opts.engine or "podman"
  if engine ~= "podman" and engine ~= "docker" then
    error("bad argument #1 to 'new' (engine must be 'podman' or 'docker', got '"
      .. tostring(engine) .. "')", 2)
  end
  local binary = find_binary(opts.binary or engine)
  if not binary then
    return fail("%s not found (%s): the container executor needs the %s CLI", engine,
      opts.binary or "looked in $PATH", engine)
  end
  return setmetatable({
    kind = engine, engine = engine, binary = binary, env = opts.env or {},
    registry_insecure = opts.registry_insecure, credentials = opts.credentials,
    runs = setmetatable({}, {__mode = "k"}),   -- run -> {key, dir, ...}
  }, Executor)
end

-- the spawn options of every engine process
-- netavark (podman's network backend on Debian 12) writes this to the
-- engine's stderr on every container start on a network when the host has
-- no /dev/log; it is the engine's, not the step's, so it stays out of the
-- run's output and log.
local ENGINE_NOISE = {["failed to connect to syslog: Initialization"] = true}

function Executor:spawn_opts(extra)
  local env = {}
  for k, v in pairs(self.env) do env[k] = v end
  for k, v in pairs(extra or {}) do env[k] = v end
  return {env = env, env_merge = true}
end

-- spawn options for a step's own engine process (the runner reads drop_stderr)
function Executor:step_opts(extra)
  local opts = self:spawn_opts(extra)
  opts.drop_stderr = function(line) return ENGINE_NOISE[line] end
  return opts
end

-- run the engine with args; the result, or a fail naming what was asked
function Executor:engine_run(args, what)
  local spec = self:spawn_opts()
  spec[1] = self.binary
  for i, a in ipairs(args) do spec[i + 1] = a end
  spec.timeout = 120
  local r, err = proc.run(spec)
  if not r then return fail("%s: %s", what, err) end
  if not r.ok then
    return fail("%s: %s", what, (r.stderr or ""):gsub("%s+$", ""):match("[^\n]*$"))
  end
  return r
end

-- the lines of an engine listing
function Executor:engine_lines(args, what)
  local r, err, code = self:engine_run(args, what)
  if not r then return nil, err, code end
  local out = {}
  for line in r.stdout:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

--- Per-run state: a key unique on this host (run ids repeat across state
--- stores, and two runs must never clean up each other), names made from it.
function Executor:state(run)
  local st = self.runs[run]
  if st then return st end
  if not run.container_key then
    local f = io.open("/dev/urandom", "rb")
    local bytes = f and f:read(3) or tostring(os.time())
    if f then f:close() end
    run.container_key = run.id .. "-" .. bytes:gsub(".", function(c)
      return string.format("%02x", c:byte()) end):sub(1, 6)
  end
  st = {key = run.container_key}
  st.network = "regsh_" .. st.key
  st.home = st.key .. "_home"
  self.runs[run] = st
  return st
end

--- labels(run) -> {{name, value}, ...}: what every container, network and
--- volume of the run carries; regsh.key is the one cleanup filters on,
--- regsh.owner ("pid:start" of this regsh) the one regsh gc spares while
--- that process lives (regsh.task.gc).
function Executor:labels(run)
  local st = self:state(run)
  local task = run.task or {}
  local labels = {
    {"regsh.run", run.id}, {"regsh.task", (run.labels or {})["regsh.task"] or task.name or ""},
    {"regsh.key", st.key}, {"regsh.owner", M.owner()},
  }
  return labels
end

local function label_args(args, labels)
  for _, l in ipairs(labels) do
    args[#args + 1] = "--label"
    args[#args + 1] = l[1] .. "=" .. l[2]
  end
end

-- the task's networks: ACR §1.2. none declared -> one of ours, the default
function Executor:networks(run)
  local declared = (run.task or {}).networks
  local st = self:state(run)
  if not declared or #declared == 0 then
    return {{name = run.network or st.network, ours = true}}, run.network or st.network
  end
  local list, default = {}, nil
  for _, n in ipairs(declared) do
    list[#list + 1] = {name = n.name, driver = n.driver, ipv6 = n.ipv6, ours = not n.skipCreation}
    if n.isDefault then default = n.name end
  end
  return list, default
end

-- a scalar option as the shell would read it (quotes removed); ACR's line
-- goes through sh -c, so `MY_SECRET='x y'` means MY_SECRET=x y
local function unquote(s)
  local words = shellwords.split(tostring(s))
  if not words then return tostring(s) end
  return table.concat(words, " ")
end

-- a cmd step's words and the index of its image (ACR §2.1: flags may come first)
local function cmd_words(step)
  local words, err = shellwords.split(step.cmd or "")
  if not words then return nil, string.format("step %s: cmd: %s", step.id, err) end
  local parsed
  parsed, err = flags.parse(words, flags.RUN)
  if not parsed then return nil, string.format("step %s: cmd: %s", step.id, err) end
  local at = parsed.positional[1]
  if not at then return nil, string.format("step %s: cmd names no image", step.id) end
  return words, at
end

-- a build step's words, tags and the index of its context (ACR §2.2: the
-- last positional word)
local function build_words(step)
  local words, err = shellwords.split(step.build or "")
  if not words then return nil, string.format("step %s: build: %s", step.id, err) end
  local parsed
  parsed, err = flags.parse(words, flags.BUILD)
  if not parsed then return nil, string.format("step %s: build: %s", step.id, err) end
  local at = parsed.positional[#parsed.positional]
  if not at then return nil, string.format("step %s: build names no context", step.id) end
  return words, at, flags.values(parsed, "t", "tag")
end

-- whether the engine must reach host over plain HTTP / unverified TLS: a
-- loopback registry (127.0.0.0/8, ::1, localhost:PORT) or one the caller
-- marks insecure. A bare "localhost" is podman's name for images built
-- here (localhost/name), not a registry a step pulls from.
function Executor:insecure(host)
  if host == "localhost" then return false end
  return require("regsh.registry.ref").is_loopback(host)
    or (self.registry_insecure ~= nil and self.registry_insecure(host) == true)
end

-- whether a cmd step talks to the run's loopback registry: a word other than
-- its image names the registry host. A container on a bridge network cannot
-- reach the host's 127.0.0.1, so such a step runs on the host's network (the
-- image itself is pulled by the engine, on the host, and needs no such thing).
local function reaches_loopback_registry(run, words, at)
  local host = run.registry
  if type(host) ~= "string" or host == "" or not require("regsh.registry.ref").is_loopback(host) then
    return false
  end
  for i, w in ipairs(words) do
    if i ~= at and w:find(host, 1, true) then return true end
  end
  return false
end

local function is_remote(context)
  return context:find("^%a[%w+.-]*://") ~= nil or context:find("^git@") ~= nil
end

local function context_module()
  local ok, mod = pcall(require, "regsh.context")
  return ok and mod or nil
end

--- check(task) -> true | fail: before anything starts, every cmd step's image
--- exists locally unless the step pulls or an earlier build tags it; every
--- cmd and build line splits; a remote build context can be fetched.
function Executor:check(task)
  local built, known = {}, {}
  for _, step in ipairs(task.steps or {}) do
    if step.kind == "build" then
      local words, at, tags = build_words(step)
      if not words then return fail("%s", at) end
      for _, t in ipairs(tags) do built[flags.image_key(t)] = true end
      if is_remote(words[at]) and not context_module() then
        return fail("step %s: remote build context %s needs regsh.context, which this regsh lacks",
          step.id, words[at])
      end
    elseif step.kind == "cmd" then
      local words, at = cmd_words(step)
      if not words then return fail("%s", at) end
      local image = words[at]
      local key = flags.image_key(image)
      if not step.pull and not built[key] then
        if known[key] == nil then
          local r, err = proc.run(self:with_argv({self.binary, "image", "exists", image},
            {timeout = 60}))
          if not r then return fail("step %s: %s", step.id, err) end
          known[key] = r.ok
        end
        if not known[key] then
          local there, why = self:in_registry(image)
          if not there then
            return fail("step %s: image %s does not exist locally, nor in its registry (%s)",
              step.id, image, why)
          end
          known[key] = true
        end
      end
    end
  end
  return true
end

-- Whether an image the engine would pull at start is in its registry (a
-- HEAD of its manifest through regsh.registry, with the credentials regsh
-- has for that host): true | false, why. Only for names that carry their
-- registry host; a short name (nginx:alpine) goes through the engine's
-- search list, which regsh cannot follow, and a bare localhost/ name is a
-- local-only image.
function Executor:in_registry(image)
  local host = image:match("^([^/]+)/")
  if not host or not host:find("[.:]") then return false, "a short name is looked up locally only" end
  local registry = require "regsh.registry"
  local ref, err = registry.parse_reference(image)
  if not ref then return false, err end
  local client
  client, err = registry.open(ref.registry, {insecure = self:insecure(ref.registry) or nil})
  if not client then return false, err end
  local head
  head, err = client:head(ref.repository, ref.digest or ref.tag)
  if not head then return false, err end
  return true
end

--- step_network(run, step) -> the network a cmd step's container joins:
--- its own `network`, else "host" when it names the run's loopback registry,
--- else the run's default (nil for build and push steps, which run on the host).
function Executor:step_network(run, step, words, at)
  if step.kind ~= "cmd" then return nil end
  if not words then
    words, at = cmd_words(step)
    if not words then return nil end
  end
  local _, default = self:networks(run)
  return step.network and step.network ~= "" and unquote(step.network)
    or reaches_loopback_registry(run, words, at) and "host" or default
end

-- spawn options with argv and extra options
function Executor:with_argv(argv, extra, env)
  local spec = self:spawn_opts(env)
  spec.argv = argv
  for k, v in pairs(extra or {}) do spec[k] = v end
  return spec
end

--- prepare(run) -> true | fail: the run's networks (ACR §1.2), its secret
--- volumes (§1.3: files in a private directory, bind-mounted) and its home volume.
function Executor:prepare(run)
  local st = self:state(run)
  local labels = self:labels(run)
  local dir, err, code = fs.temp_dir("regsh-run")
  if not dir then return nil, err, code end
  st.dir = dir
  for _, v in ipairs((run.task or {}).volumes or {}) do
    local vdir = dir .. "/volumes/" .. v.name
    local ok
    ok, err, code = fs.mkdir(vdir, tonumber("755", 8))
    if not ok then return nil, err, code end
    for file, b64 in pairs(v.secret or {}) do
      local data = require("regsh.registry.base64").decode(b64)
      if not data then return fail("volume %s: secret %s is not valid base64", v.name, file) end
      ok, err, code = fs.write_atomic(vdir .. "/" .. file, data, tonumber("644", 8))
      if not ok then return nil, err, code end
    end
  end
  local args = {"volume", "create"}
  label_args(args, labels)
  args[#args + 1] = st.home
  local ok
  ok, err, code = self:engine_run(args, "cannot create volume " .. st.home)
  if not ok then return nil, err, code end
  local networks, default = self:networks(run)
  run.network = run.network or default   -- named in the runner's "Executing step" lines
  for _, n in ipairs(networks) do
    if n.ours then
      args = {"network", "create"}
      label_args(args, labels)
      if n.driver and n.driver ~= "" then
        args[#args + 1] = "--driver"
        args[#args + 1] = n.driver
      end
      if n.ipv6 then args[#args + 1] = "--ipv6" end
      args[#args + 1] = n.name
      ok, err, code = self:engine_run(args, "cannot create network " .. n.name)
      if not ok then return nil, err, code end
    end
  end
  return true
end

-- the host directory for a /workspace path (build steps run on the host)
local function host_dir(run, path)
  local rest = path and path:match("^/workspace(/?.*)$")
  if not rest or rest:find("%.%.") then return run.workspace end
  return run.workspace .. rest:gsub("/+$", "")
end

-- the argv of a build step (ACR §2.2), run on the host in the workspace
function Executor:build_argv(run, step)
  local words, at = build_words(step)
  if not words then error(at, 0) end
  local cwd = host_dir(run, step.workingDirectory)
  if is_remote(words[at]) and not run.dry_run then
    local context = context_module()
    if not context then error("step " .. step.id .. ": remote build context needs regsh.context", 0) end
    local ctx, err = context.open(words[at])
    if not ctx then error("step " .. step.id .. ": " .. err, 0) end
    local dir = run.workspace .. "/" .. step.id
    assert(fs.mkdir(dir))
    local ok, merr = ctx:materialize(dir)
    ctx:close()
    if not ok then error("step " .. step.id .. ": " .. merr, 0) end
    words[at], cwd = ".", dir
  end
  -- No --label here: podman build writes labels into the image it makes,
  -- and the run's labels do not belong in the user's image.
  local argv = {self.binary, "build"}
  for _, w in ipairs(words) do argv[#argv + 1] = w end
  local env = {}
  for _, kv in ipairs(step.env or {}) do
    local k, v = unquote(kv):match("^([^=]+)=(.*)$")
    if k then env[k] = v end
  end
  if self.engine == "docker" and env.DOCKER_BUILDKIT ~= "1" then env.DOCKER_BUILDKIT = "0" end
  local opts = self:step_opts(env)
  opts.cwd = cwd
  return argv, opts
end

local function add(argv, ...)
  for _, v in ipairs({...}) do argv[#argv + 1] = v end
end

--- argv(run, step, attempt) -> argv, spawn_opts: one attempt of a cmd or build
--- step. A cmd step becomes `run` in ACR's option order (§2 "How acb runs a
--- container"); its cmd is split into words, never given to a shell.
function Executor:argv(run, step, attempt)
  if step.kind == "build" then return self:build_argv(run, step) end
  if step.kind ~= "cmd" then
    error("bad argument #2 to 'argv' (a cmd or build step expected, got " .. tostring(step.kind)
      .. ")", 2)
  end
  local words, at = cmd_words(step)
  if not words then error(at, 0) end
  local st = self:state(run)
  local argv = {self.binary, "run"}
  -- podman pulls a missing image from a plain-HTTP registry only when told;
  -- docker has no such flag (dockerd trusts loopback and its insecure list)
  if self.engine == "podman" and self:insecure(flags.registry_host(words[at])) then
    add(argv, "--tls-verify=false")
  end
  if not step.keep then add(argv, "--rm") end
  if step.detach then add(argv, "--detach") end
  for _, p in ipairs(step.ports or {}) do add(argv, "-p", unquote(p)) end
  for _, e in ipairs(step.expose or {}) do add(argv, "--expose", unquote(e)) end
  if step.privileged then add(argv, "--privileged") end
  if step.user and step.user ~= "" then add(argv, "--user", unquote(step.user)) end
  local network = self:step_network(run, step, words, at)
  if network then
    add(argv, "--network", network)
    if takes_alias(network) then add(argv, "--network-alias", step.id) end
  end
  if self.engine == "docker" and step.isolation and step.isolation ~= "" then
    add(argv, "--isolation", unquote(step.isolation))
  end
  if step.cpus and step.cpus ~= "" then add(argv, "--cpus", unquote(tostring(step.cpus))) end
  if step.entryPoint and step.entryPoint ~= "" then
    add(argv, "--entrypoint", unquote(step.entryPoint))
  end
  local name = st.key .. "_" .. step.id
  if step.keep and (attempt or 1) > 1 then name = name .. "_" .. attempt end
  add(argv, "--name", name)
  label_args(argv, self:labels(run))
  add(argv, "--label", "regsh.step=" .. step.id)
  add(argv, "--volume", run.workspace .. ":/workspace")
  add(argv, "--volume", st.home .. ":/acb/home")
  for _, m in ipairs(step.volumeMounts or {}) do
    local source = (st.dir or "<run dir>") .. "/volumes/" .. m.name
    add(argv, "--volume", source .. ":" .. unquote(m.mountPath))
  end
  add(argv, "--env", "HOME=/acb/home")
  for _, kv in ipairs(step.env or {}) do add(argv, "--env", unquote(kv)) end
  if not step.disableWorkingDirectoryOverride then
    add(argv, "--workdir", step.workingDirectory or "/workspace")
  end
  for i = 1, #words do argv[#argv + 1] = words[i] end
  return argv, self:step_opts()
end

--- container_name(run, step) -> the name argv gives a step's (first) container.
function Executor:container_name(run, step)
  return self:state(run).key .. "_" .. step.id
end

--- detached(run, step) -> whether a started detached step's container runs.
function Executor:detached(run, step)
  local r = proc.run(self:with_argv({self.binary, "container", "inspect", "--format",
    "{{.State.Running}}", self:container_name(run, step)}, {timeout = 30}))
  return r ~= nil and r.ok and r.stdout:match("^%s*true") ~= nil
end

-- the registry credentials for host as an auth file (docker's config.json
-- shape, which podman's --authfile also reads), written 0600 in the run's
-- private directory; nil when there are none
function Executor:auth_file(run, host)
  local lookup = self.credentials or function(h)
    local cred = require("regsh.registry.credentials")
    return (cred.resolve(h))
  end
  local c = lookup(host)
  if not c then return nil end
  local redact = require "regsh.registry.redact"
  local base64 = require "regsh.registry.base64"
  -- the run's output never shows them (an engine may echo its auth)
  if run.add_secret then
    run.add_secret(c.identity_token or c.password)
    if c.password then
      run.add_secret((c.username or "") .. ":" .. (redact.reveal(c.password) or ""))
    end
  end
  local entry = {}
  if c.identity_token then entry.identitytoken = redact.reveal(c.identity_token)
  else entry.auth = base64.encode((c.username or "") .. ":" .. (redact.reveal(c.password) or "")) end
  local st = self:state(run)
  if not st.dir then st.dir = assert(fs.temp_dir("regsh-run")) end
  local dir = st.dir .. "/auth-" .. host:gsub("[^%w.-]", "_")
  assert(fs.mkdir(dir, tonumber("700", 8)))
  local key = require("regsh.registry.credentials").config_key(host)
  assert(fs.write_atomic(dir .. "/config.json", json.encode({auths = {[key] = entry}}),
    tonumber("600", 8)))
  return dir
end

--- push_argv(run, image) -> argv, spawn_opts: one attempt of one push. Plain
--- HTTP (--tls-verify=false) only for a loopback or insecure registry;
--- credentials only through a private auth file, never on argv.
function Executor:push_argv(run, image)
  local host = flags.registry_host(image)
  local dir = self:auth_file(run, host)
  local argv = {self.binary}
  if self.engine == "docker" then
    if dir then add(argv, "--config", dir) end   -- docker push has no --authfile
    add(argv, "push")
  else
    add(argv, "push")
    if self:insecure(host) then add(argv, "--tls-verify=false") end
    if dir then add(argv, "--authfile", dir .. "/config.json") end
  end
  add(argv, image)
  return argv, self:step_opts()
end

--- cleanup_key(key, dir [, label]) -> report: remove every container, network
--- and volume labelled regsh.key=key (or label=key), and the run's private
--- directory. The reaper calls it too, with no run object; regsh serve with
--- label "regsh.run" for the runs of a daemon that died.
function Executor:cleanup_key(key, dir, label)
  local report = {containers = {}, networks = {}, volumes = {}, errors = {}}
  local filter = "label=" .. (label or "regsh.key") .. "=" .. key
  local function remove(what, list_args, rm_args)
    local names, err = self:engine_lines(list_args, "cannot list " .. what)
    if not names then
      report.errors[#report.errors + 1] = err
      return
    end
    if #names == 0 then return end
    local args = {}
    for _, a in ipairs(rm_args) do args[#args + 1] = a end
    for _, n in ipairs(names) do args[#args + 1] = n end
    local ok, rerr = self:engine_run(args, "cannot remove " .. what)
    if not ok then report.errors[#report.errors + 1] = rerr end
    for _, n in ipairs(names) do table.insert(report[what], n) end
  end
  local rm = self.engine == "podman" and {"rm", "-f", "-t", "0"} or {"rm", "-f"}
  remove("containers", {"ps", "-a", "--filter", filter, "--format", "{{.Names}}"}, rm)
  remove("networks", {"network", "ls", "-q", "--filter", filter}, {"network", "rm"})
  remove("volumes", {"volume", "ls", "-q", "--filter", filter}, {"volume", "rm", "-f"})
  if dir then fs.remove_tree(dir) end
  return report
end

--- cleanup(run) -> report {containers, networks, volumes, errors}: always,
--- idempotent (a second call finds nothing to remove).
function Executor:cleanup(run)
  local st = self:state(run)
  local report = self:cleanup_key(st.key, st.dir)
  st.dir = nil
  return report
end

--- start_reaper(run) -> reaper | fail: a regsh process of its own (its own
--- session, left running when its handle goes) that waits for this regsh to
--- end and then removes what cleanup would. reaper:stop() at a normal end.
function Executor:start_reaper(run)
  local st = self:state(run)
  local spec = {
    pid = M.self_pid(), start = M.start_time(M.self_pid()), key = st.key, dir = st.dir,
    engine = self.engine, binary = self.binary, env = self.env,
  }
  local chunk = string.format('require("regsh.task.reaper").main(%q)', json.encode(spec))
  local p, err, code = proc.spawn(self:with_argv({"/proc/self/exe", "-e", chunk},
    {detached = true, stdout = "null", stderr = "null"}))
  if not p then return nil, err, code end
  return setmetatable({handle = p, process_id = p:pid()}, Reaper)
end

--- reaper:pid() -> the reaper's process id.
function Reaper:pid()
  return self.process_id
end

--- reaper:stop() -> true: end the reaper (the run cleaned up after itself).
function Reaper:stop()
  if self.handle then
    local p = self.handle
    self.handle = nil
    p:kill("SIGKILL")
    p:wait()
    p:close()
  end
  return true
end

--- self_pid() -> this regsh's process id (from /proc/self/stat).
function M.self_pid()
  local f = assert(io.open("/proc/self/stat", "r"))
  local pid = f:read("n")
  f:close()
  return pid
end

--- owner() -> "pid:start" of this regsh: the value of the regsh.owner label.
function M.owner()
  local pid = M.self_pid()
  return string.format("%d:%s", pid, M.start_time(pid))
end

--- start_time(pid) -> the process's start time in clock ticks (field 22 of
--- /proc/PID/stat), or nil when it is gone or a zombie: a pid reused by a
--- new process has another start time.
function M.start_time(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local rest = text and text:match("^.*%)%s+(.*)$")
  if not rest then return nil end
  local fields = {}
  for w in rest:gmatch("%S+") do fields[#fields + 1] = w end
  if fields[1] == "Z" or fields[1] == "X" then return nil end
  return fields[20]   -- field 22 overall; rest starts at field 3
end

return M
