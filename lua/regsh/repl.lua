-- regsh.repl: the Lua half of the REPL (src/repl.c): reading a line through
-- the loop, the history and what it keeps out, `=expr` and `:commands`, the
-- spinner of a long call, and how results print (regsh.repl.format).
local M = {}

local format = require "regsh.repl.format"

M.HISTORY_SIZE = 1000
M.SPINNER_DELAY = 0.3   -- seconds a call runs before the spinner shows

--- The text the REPL shows for a value (regsh.repl.format).
function M.format(value, opts)
  return format.format(value, opts)
end

function M.print(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = M.format((select(i, ...))) end
  io.stdout:write(table.concat(parts, "\t"), "\n")
end

--- complete(line_before_cursor, word) -> Tab's candidates (regsh.repl.complete).
function M.complete(before, word)
  return require("regsh.repl.complete").complete(before, word)
end

-- {{rule, pattern}}, matched against the line in lower case: a line any one
-- matches never reaches the history (docs/reference/repl.md, "History").
local SECRET_WORDS = {"password", "passwd", "passphrase", "token", "secret", "authorization",
                      "api_key", "apikey", "credential"}
local SECRET_RULES = {}
for _, w in ipairs(SECRET_WORDS) do
  -- password = ..., x.password = ..., ["password"] = ..., "password": ...
  SECRET_RULES[#SECRET_RULES + 1] = {"assignment of " .. w, w .. "[%w_]*[\"'%]]*%s*=%f[^=]"}
  SECRET_RULES[#SECRET_RULES + 1] = {"assignment of " .. w, w .. "[%w_]*[\"']%s*:"}
end
SECRET_RULES[#SECRET_RULES + 1] = {"login call", "%f[%w_]login%s*[%({\"']"}
SECRET_RULES[#SECRET_RULES + 1] = {"credential flag", "%-%-password"}
SECRET_RULES[#SECRET_RULES + 1] = {"authorization value", "%f[%w]bearer%s+%S"}

--- secret_rule(line) -> the name of the rule that keeps line out of the
--- history, or nil when the line may be saved.
function M.secret_rule(line)
  local lower = line:lower()
  for _, rule in ipairs(SECRET_RULES) do
    if lower:find(rule[2]) then return rule[1] end
  end
  return nil
end

--- The history file: $XDG_STATE_HOME/regsh/history, else
--- ~/.local/state/regsh/history; nil without either variable.
function M.history_path()
  local state = os.getenv("XDG_STATE_HOME")
  if state == nil or state == "" then
    local home = os.getenv("HOME")
    if home == nil or home == "" then return nil end
    state = home .. "/.local/state"
  end
  return state .. "/regsh/history"
end

local session = {}   -- reader, history path, spinner task, repl state

local function reader()
  local ok, core = pcall(require, "regsh.core.repl")
  return ok and core.reader and core.reader() or nil
end

-- a line read on the terminal goes to the history file unless a rule keeps it out
local function remember(r, line)
  if not line:find("%S") or M.secret_rule(line) then return end
  r:remember(line)
  if session.history then
    local ok, err = r:save_history(session.history)
    if not ok and not session.warned then
      session.warned = true
      io.stderr:write("regsh: history not saved: ", require("regsh.registry.redact")
        .printable(err), "\n")
    end
  end
end

--- Read a line from the terminal with line editing, running the loop while
--- the prompt waits: spawned tasks, timers and signal handlers go on. Returns
--- the line, or false at end of input. Ctrl-C at the prompt drops the line
--- being typed and shows a fresh prompt; other errors (SIGTERM) go up.
function M.read(prompt)
  local async = require "regsh.async"
  local r = require("regsh.core.repl").reader()
  local started = false
  local function next_char()
    if not started then
      started = true
      r:start(prompt)
    end
    async.await(r)
    return r:feed()
  end
  while true do
    local ok, line = pcall(next_char)
    if ok then
      if line ~= nil then
        if line then remember(r, line) end
        return line
      end
    else
      r:abandon()
      started = false
      if line ~= "interrupted!" then error(line, 0) end
    end
  end
end

--- begin(): the session starts: help() as a global, the history loaded on a
--- terminal.
function M.begin()
  if rawget(_G, "help") == nil then
    rawset(_G, "help", function(x) return require("regsh.repl.help").help(x) end)
  end
  local fs = require "regsh.fs"
  local r = fs.isatty(io.stdin) and reader()
  if not r then return end
  local path = M.history_path()
  if not path then return end
  local dir = path:match("^(.*)/[^/]*$")
  if fs.mkdir(dir, tonumber("700", 8)) then
    session.history = path
    r:load_history(path, M.HISTORY_SIZE)
  end
end

-- the spinner: a task that draws on stderr once a call has run SPINNER_DELAY
-- (it only runs while the call waits on the loop, which is what long calls do)
function M.running()
  local fs = require "regsh.fs"
  if not (fs.isatty(io.stdin) and fs.isatty(io.stderr)) then return end
  local async = require "regsh.async"
  local frames = {"|", "/", "-", "\\"}
  session.spinner = async.spawn(function()
    async.sleep(M.SPINNER_DELAY)
    local i = 0
    while true do
      i = i + 1
      session.drawn = true
      -- the cursor goes back to the line's start: output the call prints
      -- overwrites the frame instead of following it
      io.stderr:write("\r", frames[i % #frames + 1], "\r")
      io.stderr:flush()
      async.sleep(0.1)
    end
  end)
end

function M.idle()
  local task = session.spinner
  session.spinner = nil
  if task then pcall(task.cancel, task) end
  if session.drawn then
    session.drawn = nil
    io.stderr:write("\r\27[K")
    io.stderr:flush()
  end
end

-- :commands --------------------------------------------------------------

local commands = {}

local function call(name, arg)
  return string.format("return require('regsh.repl').command(%q, %q)", name, arg)
end

function commands.quit() return false end

function commands.help(arg)
  return call("help", arg)
end

function commands.load(arg)
  if arg == "" then return call("usage", ":load FILE") end
  return call("load", arg)
end

function commands.time(arg)
  if arg == "" then return call("usage", ":time EXPR") end
  -- an expression if it loads as one, else statements
  local body = load("return " .. arg, "=stdin") and "return " .. arg or arg
  return "local clock = require('regsh.async').monotonic; local t0 = clock(); "
    .. "return require('regsh.repl').timed(t0, clock, (function(...) " .. body .. "\nend)())"
end

function commands.plan(arg)
  return call("plan", arg)
end

function commands.apply(arg)
  return call("apply", arg)
end

--- rewrite(line) -> the chunk to run for a first line: `=expr` becomes
--- `return expr`, `:command args` a call of the command; false for :quit.
function M.rewrite(line)
  if line:sub(1, 1) == "=" then return "return " .. line:sub(2) end
  local name, arg = line:match("^:(%a+)%s*(.-)%s*$")
  if not name then return line end
  local cmd = commands[name]
  if not cmd then
    return call("usage", ":" .. name .. " is not a command (:help lists them)")
  end
  return cmd(arg)
end

--- timed(t0, clock, ...) -> ...: :time's report on stderr, the results kept.
function M.timed(t0, clock, ...)
  io.stderr:write(string.format("%.3f s\n", clock() - t0))
  return ...
end

local function current_registry()
  local reg = rawget(_G, "reg")
  local mt = getmetatable(reg)
  if type(mt) ~= "table" or mt.__name ~= "regsh.registry" then
    return nil, "no registry open: reg = regsh.registry.open(\"HOST\") first "
      .. "(or start with regsh repl --registry HOST)"
  end
  return reg
end

local function confirm(question)
  local fs = require "regsh.fs"
  if not fs.isatty(io.stdin) then return true end   -- piped input: the script decided
  io.stdout:write(question, " [y/N] ")
  io.stdout:flush()
  local answer = M.read("") or ""
  return answer:match("^%s*[yY]") ~= nil
end

local runners = {}

function runners.usage(message)
  io.stderr:write("regsh: ", message, "\n")
end

function runners.help(arg)
  local help = require "regsh.repl.help"
  if arg == "" then return help.help() end
  return help.help(arg)
end

function runners.load(file)
  local chunk, err = loadfile(file)
  if not chunk then error(err, 0) end
  return chunk()
end

function runners.plan(arg)
  local reg = assert(current_registry())
  local spec
  if arg == "" then
    error(":plan needs a policy: a shipped name (:plan keep-semver), a file, or flags "
      .. "as a table (:plan {filter = {\"app:.*\"}, ago = \"30d\"})", 0)
  elseif arg:match("^[%w_./-]+$") then
    spec = arg
  else
    spec = assert(load("return " .. arg, "=:plan"))()
  end
  local plan, err = require("regsh.purge").plan(reg, spec)
  if not plan then error(err, 0) end
  rawset(_G, "plan", plan)
  io.stdout:write(plan:table(), "\n")
  return plan
end

function runners.apply()
  local plan = rawget(_G, "plan")
  if type(plan) ~= "table" or type(plan.apply) ~= "function" then
    error("no plan: :plan POLICY first", 0)
  end
  local t = plan:totals()
  if not confirm(string.format("Delete %d tags and %d manifests from %s?", t.tags,
      t.manifests, require("regsh.registry.redact").printable(plan.registry))) then
    io.stdout:write("nothing deleted\n")
    return
  end
  local result, err = plan:apply()
  if not result then error(err, 0) end
  rawset(_G, "plan", nil)
  return result
end

--- command(name, arg): what a :command does when its chunk runs.
function M.command(name, arg)
  return runners[name](arg)
end

return M
