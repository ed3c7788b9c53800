-- regsh.log: levelled log lines on stderr, as text for a person at a
-- terminal or as JSON lines for a daemon's collector, every line scrubbed of
-- secrets (regsh.registry.redact) on its way out. The registry client's
-- default `log`, the CLI (--verbose, --quiet) and `serve` write through it.
-- A warning or error repeated within the repeat window is counted, not
-- written again: one line later says how many times it came (a daemon's
-- log must not fill a disk with one complaint).
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
  window = nil,       -- seconds a repeated line is counted, not written (nil: M.REPEAT_WINDOW)
  clock = nil,        -- nil: the loop's clock (seconds)
  repeats = {},       -- key -> {level, message, fields, component, since, count}
  nrepeats = 0,
}

--- How long (seconds) a repeated warning or error is counted instead of written.
M.REPEAT_WINDOW = 3600
--- At most this many distinct lines are tracked; more flush the summaries and start over.
M.REPEAT_KEYS = 1024

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

local function check_option(key, value)
  if key == "level" then check_level(value, "configure")
  elseif key == "format" then
    if not FORMATS[value] then error("configure: format must be 'text' or 'json'", 3) end
  elseif key == "prefix" then
    if type(value) ~= "string" then error("configure: prefix must be a string", 3) end
  elseif key == "repeat_window" then
    if math.type(value) == nil or value < 0 then
      error("configure: repeat_window must be a number of seconds >= 0", 3)
    end
  elseif key == "clock" then
    if type(value) ~= "function" and value ~= false then
      error("configure: clock must be a function (or false: the loop's)", 3)
    end
  elseif key ~= "stream" then
    error("configure: unknown option '" .. tostring(key) .. "'", 3)
  end
end

--- configure{level =, format = "text"|"json", stream = file, prefix =,
--- repeat_window = seconds, clock = function}: change what is written and
--- how. Unset keys keep their value. Returns the settings as they were, so a
--- caller can put them back. The repeat counts so far are written out first.
function M.configure(opts)
  settle()
  local before = {level = state.level, format = state.format, stream = state.stream,
                  prefix = state.prefix, repeat_window = state.window or M.REPEAT_WINDOW,
                  clock = state.clock or false}
  for key, value in pairs(opts or {}) do check_option(key, value) end
  M.flush()
  for key, value in pairs(opts or {}) do
    state[key == "repeat_window" and "window" or key] = value
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

local function write(level, message, clean, component)
  local line = (state.format == "json" and json_line or text_line)(level, message, clean,
    component)
  local stream = state.stream or io.stderr
  stream:write(line, "\n")
  stream:flush()
end

--- 3600 -> "3,600"
function M.thousands(n)
  local s = string.format("%d", n)
  local sign, digits = s:match("^(-?)(%d+)$")
  digits = digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return sign .. digits
end

-- "hour", "5 minutes", "2 hours": how long a summary covers.
local function span(seconds)
  local function unit(n, name) return n == 1 and name or (M.thousands(n) .. " " .. name .. "s") end
  if seconds >= 3600 then return unit(math.floor(seconds / 3600 + 0.5), "hour") end
  if seconds >= 60 then return unit(math.floor(seconds / 60 + 0.5), "minute") end
  return unit(math.max(1, math.floor(seconds + 0.5)), "second")
end

local function now()
  if state.clock then return state.clock() end
  return require("regsh.core.loop").now()
end

-- The line that says how often an entry's line came without being written.
local function summarize(entry, seconds)
  local fields = {}
  for key, value in pairs(entry.fields or {}) do fields[key] = value end
  if state.format == "json" then fields.repeated = entry.count end
  write(entry.level, string.format("%s … repeated %s %s in the last %s", entry.message,
    M.thousands(entry.count), entry.count == 1 and "time" or "times", span(seconds)), fields,
    entry.component)
end

-- The key of a line for counting repeats: its level, component, and message
-- and fields with every run of digits (counts, times, ports) made one.
local function key_of(level, message, clean, component)
  local parts = {level, component or "", (message:gsub("%d+", "#"))}
  local keys = {}
  for key in pairs(clean or {}) do keys[#keys + 1] = tostring(key) end
  table.sort(keys)
  for _, key in ipairs(keys) do
    parts[#parts + 1] = key .. "=" .. tostring(clean[key]):gsub("%d+", "#")
  end
  return table.concat(parts, "\0")
end

-- The summaries of the windows that have ended, each once, before the
-- next line; with all = true every count so far (M.flush).
local function flush_repeats(t, all)
  local window = state.window or M.REPEAT_WINDOW
  for key, entry in pairs(state.repeats) do
    local elapsed = t - entry.since
    if all or elapsed >= window then
      if entry.count > 0 then summarize(entry, all and math.min(elapsed, window) or window) end
      state.repeats[key] = nil
      state.nrepeats = state.nrepeats - 1
    end
  end
end

--- flush(): write the repeat counts not yet written (serve calls it as it
--- stops), and forget them.
function M.flush()
  if state.nrepeats > 0 then flush_repeats(now(), true) end
end

-- and at the end of the Lua state (a script that ends, a command), so that
-- no count is lost
state.closer = setmetatable({}, {__gc = function() pcall(M.flush) end})

--- log(level, message [, fields [, component [, key]]]): write one line
--- when the level is enabled. fields (a table) become key=value pairs, or
--- JSON members. A warning or error that was written less than the repeat
--- window ago (same level, component, message and fields once digits are
--- ignored; or the same explicit key) is counted instead.
function M.log(level, message, fields, component, key)
  check_level(level, "log")
  settle()
  if RANK[level] > RANK[state.level] then return end
  message = scrub(tostring(message))
  local clean
  if fields ~= nil then
    if type(fields) ~= "table" then error("bad argument #3 to 'log' (table expected)", 2) end
    clean = {}
    for k, value in pairs(fields) do clean[k] = scrub(value) end
  end
  local t = state.nrepeats > 0 and now()
  if t then flush_repeats(t, false) end
  if RANK[level] <= RANK.warn and (state.window or M.REPEAT_WINDOW) > 0 then
    key = key ~= nil and ("key\0" .. tostring(key)) or key_of(level, message, clean, component)
    local entry = state.repeats[key]
    if entry then
      entry.count = entry.count + 1
      return
    end
    if state.nrepeats >= M.REPEAT_KEYS then flush_repeats(t or now(), true) end
    state.repeats[key] = {level = level, message = message, fields = clean,
      component = component, since = t or now(), count = 0}
    state.nrepeats = state.nrepeats + 1
  end
  write(level, message, clean, component)
end

for _, level in ipairs(M.LEVELS) do
  M[level] = function(message, fields, key) M.log(level, message, fields, nil, key) end
end

--- logger([component]) -> function(level, message [, fields [, key]]): a
--- log function for one component ("catalog", "serve"), the shape the
--- registry client's `log` option takes.
function M.logger(component)
  if component ~= nil and type(component) ~= "string" then
    error("bad argument #1 to 'logger' (string expected, got " .. type(component) .. ")", 2)
  end
  return function(level, message, fields, key) M.log(level, message, fields, component, key) end
end

return M
