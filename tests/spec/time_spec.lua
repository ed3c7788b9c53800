-- regsh.time: RFC 3339 and HTTP dates in UTC whatever the local zone,
-- durations with their limit, round trips.
local time = require "regsh.time"
local cmd = require "support.cmd"

describe("regsh.time", function()
  it("reads RFC 3339 with fractions and offsets, in UTC", function()
    assert.equal(1565721408, time.parse_rfc3339("2019-08-13T18:36:48Z"))
    assert.equal(1565721408, time.parse_rfc3339("2019-08-13t18:36:48z"))
    assert.equal(1565721408, time.parse_rfc3339("2019-08-13 20:36:48+02:00"))
    assert.equal(1565721408, time.parse_rfc3339("2019-08-13T13:06:48-05:30"))
    assert.equal(1565721408, time.parse_rfc3339("2019-08-13T18:36:48.000Z"))
    assert.equal("integer", math.type(time.parse_rfc3339("2019-08-13T18:36:48.0Z")))
    assert.near(1565721408.123456789, time.parse_rfc3339("2019-08-13T18:36:48.123456789Z"), 1e-6)
    assert.equal(-62135596800, time.parse_rfc3339("0001-01-01T00:00:00Z"))  -- Go's zero time
    assert.equal(951782400, time.parse_rfc3339("2000-02-29T00:00:00Z"))
  end)

  it("refuses malformed timestamps with one line naming them", function()
    for _, bad in ipairs({"", "2019-08-13", "2019-08-13T18:36:48", "2019-08-13T18:36:48.Z",
        "2019-13-01T00:00:00Z", "2019-04-31T00:00:00Z", "1900-02-29T00:00:00Z",
        "2019-08-13T24:00:00Z", "2019-08-13T18:60:00Z", "2019-08-13T18:36:48+2:00",
        "2019-08-13T18:36:48+24:00", "2019-8-13T18:36:48Z", " 2019-08-13T18:36:48Z",
        "2019-08-13T18:36:48Zjunk",
        -- found by tests/fuzz/duration: a third seconds digit was read as a fraction
        "2019-08-13T18:37:488Z", "2019-08-13T18:37:4888888888888888888888Z"}) do
      local t, err, code = time.parse_rfc3339(bad)
      assert.is_nil(t, bad)
      assert.equal("EDATE", code)
      assert.matches('^EDATE: "' .. bad:gsub("%p", "%%%0") .. '" [^\n]+$', err)
    end
    assert.has_error(function() time.parse_rfc3339(nil) end,
      "bad argument #1 to 'parse_rfc3339' (string expected, got nil)")
  end)

  it("does not depend on the local time zone", function()
    local out, status = cmd.regsh({"-e",
      "print(regsh.time.parse_rfc3339('2024-06-01T00:00:00Z'), regsh.time.format_rfc3339(0))"},
      nil, {TZ = "America/New_York"})
    assert.equal(0, status)
    assert.equal("1717200000\t1970-01-01T00:00:00Z\n", out)
  end)

  it("round-trips every day of four centuries through format and parse", function()
    local t = time.parse_rfc3339("1900-01-01T12:34:56Z")
    local stop = time.parse_rfc3339("2300-01-01T00:00:00Z")
    local days = 0
    while t < stop do
      local text = time.format_rfc3339(t)
      assert(time.parse_rfc3339(text) == t, text)
      assert(time.parse_http_date(time.format_http_date(t)) == t, text)
      t = t + 86400
      days = days + 1
    end
    assert.equal(146097, days)  -- 400 Gregorian years
    assert.equal(os.date("!%Y-%m-%dT%H:%M:%SZ", 1700000000), time.format_rfc3339(1700000000))
    assert.equal(os.date("!%a, %d %b %Y %H:%M:%S GMT", 1700000000),
      time.format_http_date(1700000000))
  end)

  it("formats fractions, rounding without carrying into the next second", function()
    assert.equal("2019-08-13T18:36:48.601Z", time.format_rfc3339(1565721408.6011335, 3))
    assert.equal("2019-08-13T18:36:48.999Z", time.format_rfc3339(1565721408.9999, 3))
    assert.equal("1969-12-31T23:59:59.500Z", time.format_rfc3339(-0.5, 3))
    assert.has_error(function() time.format_rfc3339(0, 10) end)
    assert.has_error(function() time.format_rfc3339("0") end)
  end)

  it("reads HTTP dates and refuses other text", function()
    assert.equal(784111777, time.parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"))
    assert.equal(784111777, time.parse_http_date("Sun Nov  6 08:49:37 1994"))
    assert.equal(1583020800, time.parse_http_date("Sunday, 01-Mar-20 00:00:00 GMT"))
    for _, bad in ipairs({"", "120", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
        -- found by tests/fuzz/duration: a 40-digit year gave a float epoch
        "Sun, 06 Nov 7777777777777777777777777777777777777774 08:49:37 GMT",
        "Sun, 06 Nov 19944 08:49:37 GMT", "Sun, 06 Nov 194 08:49:37 GMT"}) do
      local t, err, code = time.parse_http_date(bad)
      assert.is_nil(t, bad)
      assert.equal("EDATE", code, err)
    end
  end)

  it("reads durations up to the cap and refuses everything else", function()
    assert.equal(10 * 86400, time.parse_duration("10d"))
    assert.equal(3600, time.parse_duration("1h"))
    assert.equal(1800, time.parse_duration("30m"))
    assert.equal(45, time.parse_duration("45s"))
    assert.equal(0, time.parse_duration("0d"))
    assert.equal(90061, time.parse_duration("1d1h1m1s"))
    assert.equal(time.MAX_DURATION, time.parse_duration("36500d"))
    local cases = {
      [""] = "empty duration",
      ["-1d"] = "cannot be negative",
      ["1.5d"] = "needs a unit",
      ["10"] = "needs a unit",
      ["3w"] = 'unknown unit "w"',
      ["1h2d"] = "largest first",
      ["1d1d"] = "largest first",
      ["d"] = "expected a number",
      ["36500d1s"] = "limit of 100 years",
      ["999999d"] = "limit of 100 years",
      ["99999999999999999999999d"] = "limit of 100 years",
      ["1d "] = "expected a number",
    }
    for bad, why in pairs(cases) do
      local n, err, code = time.parse_duration(bad)
      assert.is_nil(n, bad)
      assert.equal("EDURATION", code)
      assert.matches(why, err, 1, true)
      assert.matches("^EDURATION: [^\n]+$", err)
    end
    assert.has_error(function() time.parse_duration(10) end)
  end)

  it("formats durations, largest units first", function()
    assert.equal("0s", time.format_duration(0))
    assert.equal("1d1h1m1s", time.format_duration(90061))
    assert.equal("10d", time.format_duration(864000))
    assert.equal("59s", time.format_duration(59.9))
    assert.equal(123456, time.parse_duration(time.format_duration(123456)))
    assert.has_error(function() time.format_duration(-1) end)
  end)
end)
