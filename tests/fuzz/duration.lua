-- duration.lua: fuzz driver of regsh.time's parsers: durations ("2d3h"),
-- RFC 3339 timestamps and HTTP dates. Each returns a number or fails with
-- its code; a duration formats back to the same number of seconds.
local contract = require "contract"
local time = require "regsh.time"

return contract.driver(function(text)
  local seconds = contract.check("parse_duration", time.parse_duration, {EDURATION = true}, text)
  if seconds then
    contract.expect(math.type(seconds) == "integer" and seconds >= 0
      and seconds <= time.MAX_DURATION, "parse_duration(%s) = %s", contract.show(text), seconds)
    local back = time.format_duration(seconds)
    contract.expect(time.parse_duration(back) == seconds, "format_duration(%d) = %s reads back"
      .. " differently", seconds, back)
  end
  local t = contract.check("parse_rfc3339", time.parse_rfc3339, {EDATE = true}, text)
  if t then
    contract.expect(type(t) == "number" and t == t, "parse_rfc3339(%s) = %s", contract.show(text),
      tostring(t))
    contract.call("format_rfc3339", time.format_rfc3339, t)
  end
  local h = contract.check("parse_http_date", time.parse_http_date, {EDATE = true}, text)
  if h then
    contract.expect(math.type(h) == "integer", "parse_http_date(%s) = %s", contract.show(text),
      tostring(h))
    local back = time.format_http_date(h)
    contract.expect(time.parse_http_date(back) == h, "format_http_date(%d) = %s reads back"
      .. " differently", h, back)
  end
end)
