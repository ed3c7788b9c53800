-- regsh.log: levelled log lines on stderr, as text for a person at a
-- terminal or as JSON lines for a daemon's collector, every line scrubbed of
-- secrets (regsh.registry.redact) on its way out. The registry client's
-- default `log`, the CLI (--verbose, --quiet) and `serve` write through it.
local redact = require "regsh.registry.redact"

local M = {}

--- The levels, most severe first; a level shows the ones before it too.
M.LEVELS = {"error", "warn", "info", "debug"}
local RANK = {}
for i, name in ipairs(M.LEVELS) do RANK[name] = i end
local FORMATS = {text = true, json = true}

local state = {
  level = nil,        -- nil: from the environment on first use
  format = nil,
  stream = nil,       -- nil: io.stderr at the time of writing
  prefix = "regsh",
  secrets = {},
}

--- The settings REGSH_LOG asks for: {level =, format =} (each nil when not
--- given), or nil, message when it names something unknown. REGSH_LOG is a
--- comma-separated list of a level and a format ("debug", "info,json");
--- REGSH_DEBUG, when set and not empty, means debug.
function M.from_env(getenv)
  getenv = getenv or os.getenv
  local level, format
  local text = getenv("REGSH_LOG") or ""
  for word in text:gmatch("[^,%s]+") do
    local w = word:lower()
    if RANK[w] then level = w
    elseif FORMATS[w] then format = w
    else
      return nil, string.format("REGSH_LOG: unknown word %q (levels: error, warn, info, debug; "
        .. "formats: text, json)", word)
    end
  end
  local debug = getenv("REGSH_DEBUG")
  if not level and debug and debug ~= "" then level = "debug" end
  return {level = level, format = format}
end

local function settle()
  if state.level and state.format then return end
  local env, err = M.from_env()
  if not env then  -- a bad REGSH_LOG: say so once, go on with the defaults
    io.stderr:write("regsh: warning: ", err, "\n")
    env = {}
  end
  state.level = state.level or env.level or "info"
  state.format = state.format or env.format or "text"
end

local function check_level(level, fname)
  if not RANK[level] then
    error(string.format("bad argument #1 to '%s' (level expected: error, warn, info or debug, "
      .. "got %s)", fname, tostring(level)), 3)
  end
end

--- configure{level =, format = "text"|"json", stream = file, prefix =}: change
--- what is written and how. Unset keys keep their value. Returns the settings
--- as they were, so a caller can put them back.
function M.configure(opts)
  settle()
  local before = {level = state.level, format = state.format, stream = state.stream,
                  prefix = state.prefix}
  for key, value in pairs(opts or {}) do
    if key == "level" then check_level(value, "configure")
    elseif key == "format" then
      if not FORMATS[value] then error("configure: format must be 'text' or 'json'", 2) end
    elseif key == "prefix" then
      if type(value) ~= "string" then error("configure: prefix must be a string", 2) end
    elseif key ~= "stream" then
      error("configure: unknown option '" .. tostring(key) .. "'", 2)
    end
    state[key] = value
  end
  return before
end

--- The current level's name.
function M.level()
  settle()
  return state.level
end

--- Whether a line of this level would be written.
function M.enabled(level)
  check_level(level, "enabled")
  settle()
  return RANK[level] <= RANK[state.level]
end

--- Register a secret (a string or a regsh secret): every later line has it
--- masked wherever it appears. Returns value.
function M.secret(value)
  if type(value) ~= "string" and not redact.is_secret(value) then
    error("bad argument #1 to 'secret' (string or secret expected, got " .. type(value) .. ")", 2)
  end
  state.secrets[#state.secrets + 1] = value
  return value
end

local function scrub(value)
  if type(value) == "string" or redact.is_secret(value) then
    return redact.text(value, state.secrets)
  end
  return value
end

local TEXT_LEVEL = {error = "error: ", warn = "warning: ", info = "", debug = "debug: "}

local function text_line(level, message, fields, component)
  local parts = {state.prefix, component and (" " .. component) or "", ": ", TEXT_LEVEL[level],
                 message}
  local keys = {}
  for key in pairs(fields or {}) do keys[#keys + 1] = tostring(key) end
  table.sort(keys)
  for _, key in ipairs(keys) do
    parts[#parts + 1] = string.format(" %s=%s", key, tostring(fields[key]))
  end
  return table.concat(parts)
end

local function json_line(level, message, fields, component)
  local record = {}
  for key, value in pairs(fields or {}) do record[tostring(key)] = value end
  record.time = require("regsh.time").format_rfc3339(require("regsh.core.loop").now(), 3)
  record.level = level
  record.msg = message
  record.component = component
  return require("regsh.json").encode(record)
end

--- log(level, message [, fields [, component]]): write one line when the
--- level is enabled. fields (a table) become key=value pairs, or JSON members.
function M.log(level, message, fields, component)
  check_level(level, "log")
  settle()
  if RANK[level] > RANK[state.level] then return end
  message = scrub(tostring(message))
  local clean
  if fields ~= nil then
    if type(fields) ~= "table" then error("bad argument #3 to 'log' (table expected)", 2) end
    clean = {}
    for key, value in pairs(fields) do clean[key] = scrub(value) end
  end
  local line = (state.format == "json" and json_line or text_line)(level, message, clean,
    component)
  local stream = state.stream or io.stderr
  stream:write(line, "\n")
  stream:flush()
end

for _, level in ipairs(M.LEVELS) do
  M[level] = function(message, fields) M.log(level, message, fields) end
end

--- logger([component]) -> function(level, message [, fields]): a log
--- function for one component ("catalog", "serve"), the shape the registry
--- client's `log` option takes.
function M.logger(component)
  if component ~= nil and type(component) ~= "string" then
    error("bad argument #1 to 'logger' (string expected, got " .. type(component) .. ")", 2)
  end
  return function(level, message, fields) M.log(level, message, fields, component) end
end

return M
