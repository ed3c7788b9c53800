-- regsh.schedule: scheduling. cron (expressions and fire times), and add():
-- the schedules a script registers for `regsh serve script.lua`, next to the
-- store's task timers (regsh.schedule.daemon runs both). docs/reference/schedule.md.
local cron = require "regsh.schedule.cron"

local M = {cron = cron}

-- One list per Lua state, even if the module is loaded again.
local REGISTRY_KEY = "regsh.schedule.added"
local function added()
  local registry = debug.getregistry()
  registry[REGISTRY_KEY] = registry[REGISTRY_KEY] or {}
  return registry[REGISTRY_KEY]
end

local NAME = "^[%w][%w_%-]*$"
local POLICIES = {allow = true, forbid = true, replace = true, queue = true}
local CATCH_UP = {none = true, latest = true, all = true}

-- opts' policies checked, as the schedule's fields; bad ones raise (level 3)
local function policies(opts)
  local tasks = require "regsh.schedule.tasks"
  local out = {concurrency = opts.concurrency or "allow", mutex = opts.mutex}
  if not POLICIES[out.concurrency] then
    error("option 'concurrency' must be allow, forbid, replace or queue, got '"
      .. tostring(out.concurrency) .. "'", 3)
  end
  if opts.missed ~= nil and not tasks.MISSED_ALIAS[opts.missed] then
    error("option 'missed' must be skip or run-once, got '" .. tostring(opts.missed) .. "'", 3)
  end
  out.catch_up = opts.catch_up or tasks.MISSED_ALIAS[opts.missed] or "none"
  if not CATCH_UP[out.catch_up] then
    error("option 'catch_up' must be none, latest or all, got '" .. tostring(out.catch_up) .. "'", 3)
  end
  out.catch_up_max = opts.catch_up_max or tasks.DEFAULT_CATCH_UP_MAX
  local ok, err = tasks.check_catch_up_max(out.catch_up_max)
  if not ok then error("option " .. err:gsub("^ETASK: ", ""), 3) end
  local deadline = opts.starting_deadline
  if type(deadline) == "string" then
    deadline, err = require("regsh.time").parse_duration(deadline)
    if not deadline then error("option 'starting_deadline': " .. err, 3) end
  end
  ok, err = tasks.check_deadline(deadline)
  if not ok then error("option " .. err:gsub("^ETASK: ", ""), 3) end
  out.starting_deadline = deadline
  ok, err = tasks.check_mutex(out.mutex)
  if not ok then error("option 'mutex': " .. err:gsub("^ETASK: ", ""), 3) end
  return out
end

--- add(name, cron, fn_or_task [, {concurrency =, mutex =, catch_up =,
--- catch_up_max =, starting_deadline =, missed =, dialect =, tz =,
--- executor =}]) -> the schedule: regsh serve fires fn (in a task of its
--- own) or the regsh.task at each time of cron (an expression or a parsed
--- cron); each fire is a run record (task = name, trigger Timer). Bad
--- arguments raise, an expression that does not parse too (its ECRON text).
function M.add(name, expr, fn_or_task, opts)
  if type(name) ~= "string" or not name:match(NAME) or #name > 50 then
    error("bad argument #1 to 'add' (a name of letters, digits, - and _ expected, got "
      .. (type(name) == "string" and "'" .. name .. "'" or type(name)) .. ")", 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then error("bad argument #4 to 'add' (table expected)", 2) end
  local c = expr
  if type(expr) == "string" then
    local err
    c, err = cron.parse(expr, {dialect = opts.dialect, tz = opts.tz})
    if not c then error(err, 2) end
  elseif type(expr) ~= "userdata" or not pcall(function() return expr.next end) then
    error("bad argument #2 to 'add' (cron expression or parsed cron expected)", 2)
  end
  local task = require("regsh.task").Task
  if type(fn_or_task) ~= "function" and getmetatable(fn_or_task) ~= task then
    error("bad argument #3 to 'add' (function or regsh.task expected, got "
      .. type(fn_or_task) .. ")", 2)
  end
  local p = policies(opts)
  local list = added()
  for _, s in ipairs(list) do
    if s.name == name then error("add: a schedule named '" .. name .. "' exists already", 2) end
  end
  local s = {name = name, timer = "lua", cron = c, run = fn_or_task, executor = opts.executor}
  for k, v in pairs(p) do s[k] = v end
  list[#list + 1] = s
  return s
end

--- list() -> the schedules add() registered, in order.
function M.list()
  local out = {}
  for i, s in ipairs(added()) do out[i] = s end
  return out
end

--- clear(): forget them (a script that registers again, the specs).
function M.clear()
  debug.getregistry()[REGISTRY_KEY] = {}
end

return M
