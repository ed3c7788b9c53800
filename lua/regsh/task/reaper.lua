-- regsh.task.reaper: the hidden entry of the process exec_container's
-- start_reaper spawns (`regsh -e 'require"regsh.task.reaper".main(JSON)'`).
-- It waits until the regsh that runs the task is gone, by a kill -9 as well,
-- then removes that run's labelled containers, networks and volumes.
local M = {}

M.POLL = 0.2   -- seconds between two looks at the runner

--- main(spec_json): spec = {pid, start, key, dir, engine, binary, env}.
--- Returns the cleanup report (the process then exits).
function M.main(spec_json)
  local json = require "regsh.json"
  local exec_container = require "regsh.task.exec_container"
  local spec = assert(json.decode(spec_json))
  -- the runner is gone when its pid is, or names a process started later
  while spec.start and exec_container.start_time(spec.pid) == spec.start do
    require("regsh.async").sleep(M.POLL)
  end
  local ex = assert(exec_container.new{engine = spec.engine, binary = spec.binary, env = spec.env})
  return ex:cleanup_key(spec.key, spec.dir)
end

return M
