-- regsh.schedule.cron: cron expressions (src/cron.c parses them and finds
-- fire times) plus what is policy: the English description, ISO 8601 with the
-- zone's offset, and reading a start time. docs/reference/cron.md.
local core = require "regsh.core.cron"
local time = require "regsh.time"

local M = {}

--- parse(expr [, {dialect = "vixie"|"acr", tz = ZONE}]) -> cron | nil, "ECRON: ...", "ECRON"
M.parse = core.parse

local methods = core.methods

local MONTHS = {"January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December"}
local DAYS = {[0] = "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
  "Saturday"}

-- "a, b and c"
local function joined(words)
  if #words == 1 then return words[1] end
  return table.concat(words, ", ", 1, #words - 1) .. " and " .. words[#words]
end

-- {0, 15, 30, 45} over lo..hi -> the step 15 when the set is lo, lo+k, ... up to hi
-- (or first, first+k... for N/k), else nil
local function step_of(set, hi)
  if #set < 2 then return nil end
  local k = set[2] - set[1]
  for i = 2, #set do
    if set[i] - set[i - 1] ~= k then return nil end
  end
  if set[#set] + k <= hi then return nil end
  return k
end

-- the values as words: runs of 3 or more as "a through b"
local function listed(set, name)
  local words, i = {}, 1
  while i <= #set do
    local j = i
    while j < #set and set[j + 1] == set[j] + 1 do j = j + 1 end
    if j - i >= 2 then
      words[#words + 1] = name(set[i]) .. " through " .. name(set[j])
      i = j + 1
    else
      words[#words + 1] = name(set[i])
      i = i + 1
    end
  end
  return joined(words)
end

local function full(set, lo, hi) return #set == hi - lo + 1 end

-- "every 15 minutes", "every minute", "at minute 5", "at minutes 0 and 30"
local function unit_clause(set, lo, hi, unit)
  if full(set, lo, hi) then return "every " .. unit end
  local k = step_of(set, hi)
  if k then
    local from = set[1] == lo and "" or string.format(" from %s %d", unit, set[1])
    return string.format("every %d %ss%s", k, unit, from)
  end
  return string.format("at %s%s %s", unit, #set > 1 and "s" or "", listed(set, tostring))
end

local function times_clause(f)
  local two = function(v) return string.format("%02d", v) end
  if #f.hour <= 6 and #f.minute == 1 and #f.second == 1 then
    local clock = {}
    for i, h in ipairs(f.hour) do
      clock[i] = two(h) .. ":" .. two(f.minute[1]) .. (f.seconds and ":" .. two(f.second[1]) or "")
    end
    return "at " .. joined(clock)
  end
  local parts = {}
  if f.seconds and not (#f.second == 1 and f.second[1] == 0) then
    parts[#parts + 1] = unit_clause(f.second, 0, 59, "second")
  end
  local minute = unit_clause(f.minute, 0, 59, "minute")
  if #parts == 0 then
    parts[1] = minute
  elseif not full(f.minute, 0, 59) or parts[1]:match("^at ") then
    parts[#parts + 1] = minute:gsub("^at ", "of "):gsub("^every minute", "of every minute")
  end
  if not full(f.hour, 0, 23) then
    local k = step_of(f.hour, 23)
    parts[#parts + 1] = k and string.format("of every %d hours%s", k,
        f.hour[1] == 0 and "" or " from " .. two(f.hour[1]) .. ":00")
      or "of hour" .. (#f.hour > 1 and "s " or " ") .. listed(f.hour, tostring)
  elseif not full(f.minute, 0, 59) then
    parts[#parts + 1] = "of every hour"
  end
  return table.concat(parts, " ")
end

local function days_clause(f, acr)
  local day_all, weekday_all = full(f.day, 1, 31), full(f.weekday, 0, 6)
  local day = not day_all and (step_of(f.day, 31) and f.day[1] == 1
      and string.format("on every %d%s day of the month from the 1st", step_of(f.day, 31),
        ({[2] = "nd", [3] = "rd"})[step_of(f.day, 31)] or "th")
      or "on day" .. (#f.day > 1 and "s " or " ") .. listed(f.day, tostring) .. " of the month")
  local weekday = not weekday_all and "on " .. listed(f.weekday, function(v) return DAYS[v] end)
  if day and weekday then
    if acr or f.day_star or f.weekday_star then
      return day .. ", if that day is a " .. listed(f.weekday, function(v) return DAYS[v] end)
    end
    return day .. " or " .. weekday
  end
  return day or weekday or "every day"
end

--- c:describe() -> the expression in English, e.g.
--- "at 10:00, on Monday through Friday (UTC)"
function methods.describe(c)
  local f = c:fields()
  if f.every then
    return string.format("every %s, at multiples of it since 1970-01-01T00:00:00Z",
      time.format_duration(f.every))
  end
  local text = times_clause(f) .. ", " .. days_clause(f, c.dialect == "acr")
  if not full(f.month, 1, 12) then
    text = text .. ", in " .. listed(f.month, function(v) return MONTHS[v] end)
  end
  return text .. " (" .. c.tz .. ")"
end

--- format(t, offset [, utc]) -> "2024-03-10T03:00:00-04:00"; "Z" instead of
--- an offset when utc is true.
function M.format(t, offset, utc)
  local text = time.format_rfc3339(t + offset):sub(1, -2)
  if utc then return text .. "Z" end
  local sign = offset < 0 and "-" or "+"
  offset = math.abs(offset)
  return string.format("%s%s%02d:%02d", text, sign, offset // 3600, offset % 3600 // 60)
end

--- c:format(t) -> t in ISO 8601 with the cron's zone offset ("Z" in UTC)
function methods.format(c, t)
  return M.format(t, c:offset(t), c.tz == "UTC")
end

--- c:time(s) -> epoch seconds of an ISO 8601 time: with an offset or Z, the
--- instant it names; without, a wall time in the cron's zone ("2024-03-10T02:30",
--- seconds optional). A repeated wall time is its first occurrence; a skipped
--- one is read with the offset before the jump (02:30 on New York's
--- spring-forward day is 03:30 EDT). nil, "EDATE: ...", "EDATE" when unreadable.
function methods.time(c, s)
  if type(s) ~= "string" then
    error("bad argument #1 to 'time' (string expected, got " .. type(s) .. ")", 2)
  end
  local wall = s:match("^%d%d%d%d%-%d%d%-%d%d[Tt ]%d%d:%d%d$") and s .. ":00" or s
  if not wall:match("^%d%d%d%d%-%d%d%-%d%d[Tt ]%d%d:%d%d:%d%d$") then
    return time.parse_rfc3339(s)
  end
  local t, err, code = time.parse_rfc3339(wall .. "Z")
  if not t then return nil, err, code end
  -- the offsets a day either side: no zone changes twice within two days
  local before, after = c:offset(t - 86400), c:offset(t + 86400)
  for _, offset in ipairs(before >= after and {before, after} or {after, before}) do
    if c:offset(t - offset) == offset then return t - offset end
  end
  return t - before
end

return M
