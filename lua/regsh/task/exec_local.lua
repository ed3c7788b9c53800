-- regsh.task.exec_local: the local executor (--executor local). A cmd step's
-- string runs on this host as `sh -c` in the run's workspace, `/workspace/x`
-- mapped to <workspace>/x, with the step's env over regsh's own. build and
-- push steps go to a container engine (regsh.task.exec_container) when
-- podman or docker is on PATH; otherwise check() fails ECONTAINER.
local fs = require "regsh.fs"

local M = {}

local Local = {}
Local.__index = Local
Local.__name = "regsh.task.exec_local"

--- find_program(name) -> path | nil: name looked up in $PATH.
function M.find_program(name)
  for dir in (os.getenv("PATH") or "/bin:/usr/bin"):gmatch("[^:]+") do
    local path = dir .. "/" .. name
    local info = fs.stat(path)
    if info and info.type == "file" then return path end
  end
  return nil
end

--- new{engine = "podman"|"docker"|nil, registry =} -> executor
function M.new(opts)
  opts = opts or {}
  return setmetatable({kind = "local", engine = opts.engine, registry = opts.registry}, Local)
end

-- The container executor that build and push steps go to, or nil, why.
local function container(self)
  if self.container then return self.container end
  local engine = self.engine
  if not engine then
    for _, name in ipairs{"podman", "docker"} do
      if M.find_program(name) then engine = name; break end
    end
  end
  if not engine then return nil, "neither podman nor docker is on PATH" end
  local ok, mod = pcall(require, "regsh.task.exec_container")
  if not ok then return nil, "the container executor is not in this build" end
  local c, err = mod.new{engine = engine, registry = self.registry}
  if not c then return nil, err end
  self.container = c
  return c
end

--- ex:check(task) -> true | fail (ECONTAINER naming the first build or push
--- step when no container engine can take it).
function Local:check(task)
  local needs = {}
  for _, step in ipairs(task.steps) do
    if step.kind == "build" or step.kind == "push" then needs[#needs + 1] = step end
  end
  if #needs == 0 then return true end
  local c, why = container(self)
  if not c then
    local step = needs[1]
    return nil, string.format("ECONTAINER: step %s: a %s step needs a container engine "
      .. "with --executor local, and %s", step.id, step.kind, require("regsh.errors").detail(why)),
      "ECONTAINER"
  end
  if c.check then
    local sub = {}
    for k, v in pairs(task) do sub[k] = v end
    sub.steps = needs
    return c:check(sub)
  end
  return true
end

--- ex:prepare(run) -> true | fail: only the container side has anything to prepare.
function Local:prepare(run)
  if self.container and self.container.prepare then return self.container:prepare(run) end
  return true
end

--- The host directory of a step's working directory: /workspace/x is
--- <workspace>/x; another absolute path is itself.
function M.host_dir(run, dir)
  if dir == nil or dir == "" or dir == "/workspace" then return run.workspace end
  local rest = dir:match("^/workspace/(.*)$")
  if rest then return run.workspace .. "/" .. rest end
  return dir
end

local function env_table(list)
  local env = {}
  for _, entry in ipairs(list or {}) do
    local k, v = entry:match("^([^=]+)=(.*)$")
    if k then env[k] = v end
  end
  return env
end

--- ex:argv(run, step, attempt) -> argv, spawn options
function Local:argv(run, step, attempt)
  if step.kind == "build" then
    local c = assert(container(self))
    return c:argv(run, step, attempt)
  end
  local cwd = run.workspace
  if not step.disableWorkingDirectoryOverride then cwd = M.host_dir(run, step.workingDirectory) end
  return {"/bin/sh", "-c", step.cmd}, {cwd = cwd, env = env_table(step.env), env_merge = true,
    step_detached = step.detach or nil}
end

--- ex:push_argv(run, image) -> argv, spawn options (through the container engine)
function Local:push_argv(run, image)
  local c = assert(container(self))
  return c:push_argv(run, image)
end

--- ex:start_reaper(run) -> reaper | nil: the container engine's, when
--- build or push steps use one (it removes their resources after a kill -9).
function Local:start_reaper(run)
  if self.container and self.container.start_reaper then return self.container:start_reaper(run) end
  return nil
end

--- ex:cleanup(run) -> report: the container engine's cleanup; detached
--- local processes are the runner's (it cancels their tasks first).
function Local:cleanup(run)
  if self.container and self.container.cleanup then return self.container:cleanup(run) end
  return {}
end

return M
