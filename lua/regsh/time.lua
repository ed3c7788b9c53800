-- regsh.time: timestamps as epoch seconds (UTC) everywhere: RFC 3339 (image
-- config `created`, ACR's `lastUpdateTime`), HTTP dates (Retry-After, Last-Modified)
-- and durations such as "10d2h30m" (purge --ago). Pure Lua on the civil
-- calendar, never os.time() on a table, which reads it in the local zone.
local M = {}

--- The longest duration parse_duration accepts: 100 years of 365 days, so a
--- typo like 999999d is an error instead of "everything is old enough".
M.MAX_DURATION = 100 * 365 * 86400

local UNITS = {d = 86400, h = 3600, m = 60, s = 1}
local ORDER = {d = 1, h = 2, m = 3, s = 4}

local MONTHS = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
local MONTH_NUMBER = {}
for i, name in ipairs(MONTHS) do MONTH_NUMBER[name:lower()] = i end
local WEEKDAYS = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

-- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- The inverse: year, month, day of a day count since 1970-01-01.
local function civil_from_days(z)
  z = z + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return y, m, d
end

local function days_in_month(y, m)
  if m == 2 then
    return (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) and 29 or 28
  end
  return (m == 4 or m == 6 or m == 9 or m == 11) and 30 or 31
end

local function fail(code, fmt, ...)
  local message = code .. ": " .. string.format(fmt, ...)
  return nil, message, code
end

local function check_arg(v, kind, fname)
  if type(v) ~= kind then
    error(string.format("bad argument #1 to '%s' (%s expected, got %s)", fname, kind, type(v)), 3)
  end
end

--- epoch(year, month, day [, hour, min, sec]) -> seconds since 1970-01-01T00:00:00Z,
--- or nil when a field is out of range.
function M.epoch(y, mo, d, h, mi, s)
  h, mi, s = h or 0, mi or 0, s or 0
  if mo < 1 or mo > 12 or d < 1 or d > days_in_month(y, mo) or h > 23 or mi > 59 or s > 60 then
    return nil
  end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
end

--- utc(epoch) -> {year, month, day, hour, min, sec, wday (1 = Sunday)} of an epoch (UTC).
function M.utc(t)
  check_arg(t, "number", "utc")
  local whole = math.floor(t)
  local days, secs = whole // 86400, whole % 86400
  local y, m, d = civil_from_days(days)
  return {year = y, month = m, day = d, hour = secs // 3600, min = secs % 3600 // 60,
          sec = secs % 60, wday = (days + 4) % 7 + 1}  -- 1970-01-01 was a Thursday
end

--- parse_rfc3339(s) -> epoch seconds | nil, "EDATE: ...", "EDATE".
--- "2019-08-13T18:36:48.6011335Z", "2024-02-29T10:00:00+02:00", "... 10:00:00z".
--- Fractional seconds give a float, whole seconds an integer.
function M.parse_rfc3339(s)
  check_arg(s, "string", "parse_rfc3339")
  local y, mo, d, h, mi, sec, frac, zone =
    s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  -- a fraction starts with its dot: "18:37:488Z" is not 18:37:56
  if not y or frac == "." or (frac ~= "" and frac:sub(1, 1) ~= ".") then
    return fail("EDATE", "%q is not an RFC 3339 timestamp", s)
  end
  local t = M.epoch(tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi),
    tonumber(sec))
  if not t then return fail("EDATE", "%q has a field out of range", s) end
  local offset = 0
  if zone ~= "Z" and zone ~= "z" then
    local sign, oh, om = zone:match("^([+-])(%d%d):(%d%d)$")
    if not sign or tonumber(oh) > 23 or tonumber(om) > 59 then
      return fail("EDATE", "%q has no time zone (Z or +HH:MM)", s)
    end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "+" and 1 or -1)
  end
  t = t - offset
  if frac ~= "" and tonumber(frac) ~= 0 then t = t + tonumber("0" .. frac) end
  return t
end

--- format_rfc3339(epoch [, digits]) -> "2019-08-13T18:36:48Z" (UTC); digits
--- (0-9) of fractional seconds when given.
function M.format_rfc3339(t, digits)
  check_arg(t, "number", "format_rfc3339")
  digits = digits or 0
  if math.type(digits) ~= "integer" or digits < 0 or digits > 9 then
    error("bad argument #2 to 'format_rfc3339' (digits must be an integer 0..9)", 2)
  end
  local whole = math.floor(t)
  local u = M.utc(whole)
  local text = string.format("%04d-%02d-%02dT%02d:%02d:%02d", u.year, u.month, u.day, u.hour,
    u.min, u.sec)
  if digits > 0 then
    local scaled = math.floor((t - whole) * 10 ^ digits + 0.5)
    if scaled >= 10 ^ digits then scaled = 10 ^ digits - 1 end
    text = text .. string.format(".%0" .. digits .. "d", scaled)
  end
  return text .. "Z"
end

--- parse_http_date(s) -> epoch | nil, "EDATE: ...", "EDATE": the IMF-fixdate
--- "Sun, 06 Nov 1994 08:49:37 GMT" and the obsolete RFC 850 and asctime forms.
function M.parse_http_date(s)
  check_arg(s, "string", "parse_http_date")
  local d, mon, y, hh, mm, ss =
    s:match("^%a+,%s*(%d%d?)[%s%-](%a%a%a)[%s%-](%d+)%s+(%d%d):(%d%d):(%d%d)%s+GMT%s*$")
  if not d then  -- asctime: "Sun Nov  6 08:49:37 1994"
    mon, d, hh, mm, ss, y =
      s:match("^%a+%s+(%a%a%a)%s+(%d%d?)%s+(%d%d):(%d%d):(%d%d)%s+(%d%d%d%d)%s*$")
  end
  local month = mon and MONTH_NUMBER[mon:lower()]
  if not month then return fail("EDATE", "%q is not an HTTP date", s) end
  -- four digits (IMF-fixdate, asctime) or RFC 850's two: a longer run is no
  -- year a server sends, and would overflow into a float epoch
  if #y ~= 4 and #y ~= 2 then return fail("EDATE", "%q has no 2- or 4-digit year", s) end
  y = tonumber(y)
  if y < 100 then y = y + (y < 70 and 2000 or 1900) end  -- RFC 850's two-digit years
  local t = M.epoch(y, month, tonumber(d), tonumber(hh), tonumber(mm), tonumber(ss))
  if not t then return fail("EDATE", "%q has a field out of range", s) end
  return t
end

--- format_http_date(epoch) -> "Sun, 06 Nov 1994 08:49:37 GMT"
function M.format_http_date(t)
  check_arg(t, "number", "format_http_date")
  local u = M.utc(math.floor(t))
  return string.format("%s, %02d %s %04d %02d:%02d:%02d GMT",
    WEEKDAYS[u.wday], u.day, MONTHS[u.month], u.year, u.hour, u.min, u.sec)
end

--- parse_duration(s) -> whole seconds | nil, "EDURATION: ...", "EDURATION".
--- Units d, h, m, s, each at most once and in that order: "10d", "2d3h6m",
--- "90m", "0d". Negative, empty, fractional, unknown units and anything above
--- MAX_DURATION (100 years) fail.
function M.parse_duration(s)
  check_arg(s, "string", "parse_duration")
  if s == "" then return fail("EDURATION", "empty duration (write e.g. 10d, 2d3h, 30m)") end
  if s:sub(1, 1) == "-" then return fail("EDURATION", "%q: a duration cannot be negative", s) end
  local total, last, pos = 0, 0, 1
  while pos <= #s do
    local digits, unit, after = s:match("^(%d+)(%a?)()", pos)
    if not digits then
      return fail("EDURATION", "%q: expected a number at %q (write e.g. 10d, 2d3h, 30m)", s,
        s:sub(pos))
    end
    if unit == "" then
      return fail("EDURATION", "%q: %s needs a unit: d, h, m or s", s, digits)
    end
    local order = ORDER[unit]
    if not order then
      return fail("EDURATION", "%q: unknown unit %q (d, h, m or s)", s, unit)
    end
    if order <= last then
      return fail("EDURATION", "%q: units go largest first, each once (d, h, m, s)", s)
    end
    last = order
    -- digits alone can overflow an integer: compare before multiplying
    if #digits > 12 or tonumber(digits) * UNITS[unit] > M.MAX_DURATION - total then
      return fail("EDURATION", "%q is longer than the limit of 100 years (36500d)", s)
    end
    total = total + tonumber(digits) * UNITS[unit]
    pos = after
  end
  return total
end

--- format_duration(seconds) -> "2d3h6m" ("0s" for 0); whole seconds, rounded down.
function M.format_duration(seconds)
  check_arg(seconds, "number", "format_duration")
  if seconds < 0 then error("bad argument #1 to 'format_duration' (negative duration)", 2) end
  local rest = math.floor(seconds)
  if rest == 0 then return "0s" end
  local parts = {}
  for _, unit in ipairs({"d", "h", "m", "s"}) do
    local n = rest // UNITS[unit]
    if n > 0 then parts[#parts + 1] = string.format("%d%s", n, unit) end
    rest = rest % UNITS[unit]
  end
  return table.concat(parts)
end

--- now() -> epoch seconds (integer, UTC).
function M.now()
  return os.time()
end

return M
