-- regsh.schedule.cron: our own cases beside the shared vectors
-- (cron_vectors_spec.lua): DST in Berlin and New York, the two day rules,
-- 7 as Sunday, macros, @every, zones, the exact messages for bad input,
-- prev(), random input, and `regsh cron`.
local cron = require "regsh.schedule.cron"
local time = require "regsh.time"
local cmd = require "support.cmd"

-- the next n fire times after start (ISO 8601 with an offset), as ISO 8601
local function fires(expr, start, n, opts)
  local c = assert(cron.parse(expr, opts))
  local out = {}
  for i, t in ipairs(assert(c:next(assert(c:time(start)), n))) do out[i] = c:format(t) end
  return out
end

local function fails(expr, opts)
  local c, err, code = cron.parse(expr, opts)
  assert.is_nil(c, expr)
  assert.equal("ECRON", code)
  return err
end

describe("regsh.schedule.cron", function()
  describe("DST, as cronie does it", function()
    local berlin, ny = {tz = "Europe/Berlin"}, {tz = "America/New_York"}

    it("runs a fixed-time job in a skipped hour once, right after the jump", function()
      -- Berlin 2024-03-31: 02:00 CET becomes 03:00 CEST
      assert.same({"2024-03-30T02:30:00+01:00", "2024-03-31T03:00:00+02:00",
        "2024-04-01T02:30:00+02:00"}, fires("30 2 * * *", "2024-03-30T00:00:00+01:00", 3, berlin))
      -- New York 2024-03-10: 02:00 EST becomes 03:00 EDT; two skipped times, one run
      assert.same({"2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"},
        fires("0,30 2 * * *", "2024-03-09T12:00:00-05:00", 2, ny))
      -- a job at the jump's own wall time (03:00) merges with the caught-up one
      assert.same({"2024-03-31T03:00:00+02:00", "2024-03-31T04:00:00+02:00"},
        fires("0 2,3,4 * * *", "2024-03-31T01:30:00+01:00", 2, berlin))
    end)

    it("lets wildcard jobs follow the clock through a gap", function()
      assert.same({"2024-03-31T01:45:00+01:00", "2024-03-31T03:00:00+02:00",
        "2024-03-31T03:15:00+02:00"}, fires("*/15 * * * *", "2024-03-31T01:30:00+01:00", 3, berlin))
      assert.same({"2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00"},
        fires("0 * * * *", "2024-03-10T00:30:00-05:00", 2, ny))
    end)

    it("does not repeat a fixed-time job in a repeated hour", function()
      -- Berlin 2024-10-27: 03:00 CEST becomes 02:00 CET
      assert.same({"2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"},
        fires("30 2 * * *", "2024-10-27T00:00:00+02:00", 2, berlin))
      -- New York 2024-11-03: 02:00 EDT becomes 01:00 EST
      assert.same({"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"},
        fires("30 1 * * *", "2024-11-03T00:00:00-04:00", 2, ny))
      -- asked from inside the second pass, the next run is the next day's
      assert.same({"2024-11-04T01:30:00-05:00"},
        fires("30 1 * * *", "2024-11-03T01:10:00-05:00", 1, ny))
    end)

    it("runs wildcard jobs in both passes of a repeated hour", function()
      assert.same({"2024-10-27T02:00:00+02:00", "2024-10-27T02:30:00+02:00",
        "2024-10-27T02:00:00+01:00", "2024-10-27T02:30:00+01:00", "2024-10-27T03:00:00+01:00"},
        fires("*/30 * * * *", "2024-10-27T01:45:00+02:00", 5, berlin))
      assert.same({"2024-11-03T01:30:00-04:00", "2024-11-03T01:30:00-05:00",
        "2024-11-03T02:30:00-05:00"}, fires("30 * * * *", "2024-11-03T00:45:00-04:00", 3, ny))
    end)

    it("uses the zone's rule past the end of its table", function()
      assert.same({"2080-03-10T03:00:00-04:00"}, fires("30 2 10 3 *", "2080-01-01T00:00", 1, ny))
      assert.same({"2080-10-27T02:30:00+02:00", "2080-10-28T02:30:00+01:00"},
        fires("30 2 * * *", "2080-10-27T00:00", 2, berlin))
    end)

    it("finds prev() across the changes, consistent with next()", function()
      local c = assert(cron.parse("30 2 * * *", ny))
      local jump = assert(time.parse_rfc3339("2024-03-10T03:00:00-04:00"))
      assert.equal(jump, c:prev(jump + 1))
      assert.equal(jump - 86400 + 1800, c:prev(jump))
      math.randomseed(7)
      for _, expr in ipairs({"30 2 * * *", "*/15 * * * *", "0 1-3 * * *", "0 0 * * 0",
          "15 3 1 * *", "* * * * *"}) do
        for _, zone in ipairs({"Europe/Berlin", "America/New_York", "UTC"}) do
          local k = assert(cron.parse(expr, {tz = zone}))
          for _ = 1, 40 do
            local t = math.random(1700000000, 1800000000)
            local n = assert(k:next(t))
            local p = assert(k:prev(n))
            assert.is_true(p <= t, expr .. " " .. zone .. " " .. t)
            assert.equal(n, k:next(p), expr .. " " .. zone .. " " .. t)
          end
        end
      end
    end)
  end)

  describe("the day rules", function()
    it("ORs restricted day fields in vixie and ANDs them in acr", function()
      local t = assert(time.parse_rfc3339("2003-01-01T12:00:00Z"))
      assert.same({"2003-01-01T16:45:00Z", "2003-01-06T16:45:00Z"},
        fires("45 16 1 * Mon", "2003-01-01T12:00:00Z", 2))
      assert.same({"2003-09-01T16:45:00Z", "2003-12-01T16:45:00Z"},
        fires("45 16 1 * Mon", "2003-01-01T12:00:00Z", 2, {dialect = "acr"}))
      assert.equal("acr", assert(cron.parse("0 0 1 * 1", {dialect = "acr"})).dialect)
      assert.equal(t + 4 * 3600 + 45 * 60, assert(cron.parse("45 16 1 * 1")):next(t))
    end)

    it("counts a vixie day field that starts with '*' as unrestricted (cronie)", function()
      -- the first Sunday of each month
      assert.same({"2020-01-05T00:00:00Z", "2020-02-02T00:00:00Z", "2020-03-01T00:00:00Z"},
        fires("0 0 1-7 * */7", "2020-01-01T00:00:00Z", 3))
      assert.same({"2023-05-13T16:00:00Z", "2023-05-27T16:00:00Z"},
        fires("0 16 */2 * sat", "2023-05-02T00:00:00Z", 2))
    end)
  end)

  describe("7 as Sunday", function()
    it("is Sunday in vixie, in ranges too", function()
      assert.same(assert(cron.parse("0 0 * * 0")):fields(), assert(cron.parse("0 0 * * 7")):fields())
      assert.same({0, 5, 6}, assert(cron.parse("0 0 * * 5-7")):fields().weekday)
      assert.same({0, 5, 6}, assert(cron.parse("0 0 * * 5-0")):fields().weekday)
      assert.same({"2024-03-10T00:00:00Z"}, fires("0 0 * * 7", "2024-03-09T00:00:00Z", 1))
    end)

    it("is refused in acr, which counts 0-6", function()
      assert.equal("ECRON: field 'day-of-week': value 7 out of range 0-6",
        fails("0 0 * * 7", {dialect = "acr"}))
      assert.equal("ECRON: field 'day-of-week': value 8 out of range 0-7", fails("0 0 * * 8"))
    end)
  end)

  describe("names", function()
    it("reads 3-letter names in any case (vixie) and prefixes (acr)", function()
      assert.same({1, 3}, assert(cron.parse("0 0 * jAn,MAR *")):fields().month)
      assert.same({1, 2, 3, 4, 5}, assert(cron.parse("0 0 * * mon-FRI")):fields().weekday)
      local acr = {dialect = "acr"}
      assert.same({1}, assert(cron.parse("0 0 * J *", acr)):fields().month)
      assert.same({6}, assert(cron.parse("0 0 * Ju *", acr)):fields().month)
      assert.same({9, 10}, assert(cron.parse("0 0 * SEPT-October *", acr)):fields().month)
      assert.same({0}, assert(cron.parse("0 0 * * sunday", acr)):fields().weekday)
      assert.equal("ECRON: field 'month': unknown name 'June'", fails("0 0 * June *"))
      assert.equal("ECRON: field 'day-of-week': unknown name 'Sundays'",
        fails("0 0 * * Sundays", acr))
      assert.equal("ECRON: field 'hour': unknown name 'Mon'", fails("0 Mon * * *"))
    end)
  end)

  describe("macros", function()
    local equivalents = {
      ["@yearly"] = "0 0 1 1 *", ["@annually"] = "0 0 1 1 *", ["@monthly"] = "0 0 1 * *",
      ["@weekly"] = "0 0 * * 0", ["@daily"] = "0 0 * * *", ["@midnight"] = "0 0 * * *",
      ["@hourly"] = "0 * * * *",
    }
    for macro, fields in pairs(equivalents) do
      it(macro .. " is " .. fields, function()
        local a, b = assert(cron.parse(macro)), assert(cron.parse(fields))
        assert.same(b:fields(), a:fields())
        assert.equal(b:next(1700000000), a:next(1700000000))
        assert.equal(macro, a.expr)
      end)
    end

    it("refuses macros in acr, unknown ones and trailing text", function()
      assert.equal("ECRON: the acr dialect has no macros ('@daily'): write 5 fields",
        fails("@daily", {dialect = "acr"}))
      assert.equal("ECRON: unknown macro '@reboot' (known: @yearly @annually @monthly @weekly"
        .. " @daily @midnight @hourly @every)", fails("@reboot"))
      assert.equal("ECRON: '@daily' takes nothing after it", fails("@daily 5"))
    end)
  end)

  describe("@every", function()
    it("fires at multiples of the interval since the epoch", function()
      assert.same({"2024-01-01T00:10:00Z", "2024-01-01T00:20:00Z"},
        fires("@every 10m", "2024-01-01T00:03:00Z", 2))
      assert.same({"2024-01-01T01:30:00Z", "2024-01-01T03:00:00Z"},
        fires("@every 1h30m", "2024-01-01T00:00:00Z", 2))
      local c = assert(cron.parse("@every 90s"))
      assert.equal(90, c:next(0))
      assert.equal(180, c:next(90))
      assert.equal(90, c:prev(180))
      assert.equal(0, c:prev(1))
      assert.equal("every 1m30s, at multiples of it since 1970-01-01T00:00:00Z", c:describe())
    end)

    it("refuses an unreadable duration", function()
      for _, bad in ipairs({"@every", "@every 0s", "@every 10", "@every 10x", "@every m",
          "@every 5m1h", "@every -5m"}) do
        assert.matches("^ECRON: @every: cannot read the duration '[^']*' %(write 10m, 1h30m,"
          .. " 90s: units d h m s%)$", fails(bad))
      end
    end)
  end)

  describe("seconds", function()
    it("takes a sixth field, first, in vixie only", function()
      assert.same({"2003-01-01T00:00:02Z", "2003-01-01T00:00:07Z"},
        fires("2/5 * * * * *", "2003-01-01T00:00:00Z", 2))
      assert.equal("ECRON: the acr dialect takes exactly 5 fields (minute hour day-of-month"
        .. " month day-of-week), got 6", fails("0 0 0 * * *", {dialect = "acr"}))
    end)
  end)

  describe("time zones", function()
    it("takes a zone from CRON_TZ=, TZ= or the options", function()
      local c = assert(cron.parse("CRON_TZ=Europe/Berlin 0 3 * * *"))
      assert.equal("Europe/Berlin", c.tz)
      assert.equal("0 3 * * *", c.expr)
      assert.equal("Asia/Tokyo", assert(cron.parse("TZ=Asia/Tokyo 0 3 * * *")).tz)
      assert.equal("UTC", assert(cron.parse("0 3 * * *")).tz)
      assert.same({"2024-06-01T03:00:00+09:00"},
        fires("0 3 * * *", "2024-05-31T12:00:00Z", 1, {tz = "Asia/Tokyo"}))
      assert.equal("cron(0 3 * * *)", tostring(c))
    end)

    it("refuses unknown zones and two different zones", function()
      assert.equal("ECRON: unknown time zone 'Mars/Base'", fails("0 0 * * *", {tz = "Mars/Base"}))
      assert.equal("ECRON: unknown time zone '../../etc/passwd'",
        fails("CRON_TZ=../../etc/passwd 0 0 * * *"))
      assert.equal("ECRON: unknown time zone '/etc/passwd'", fails("TZ=/etc/passwd 0 0 * * *"))
      assert.equal("ECRON: unknown time zone 'Europe'", fails("0 0 * * *", {tz = "Europe"}))
      assert.equal("ECRON: two time zones: 'Asia/Tokyo' in the expression, 'UTC' in the options",
        fails("TZ=Asia/Tokyo 0 0 * * *", {tz = "UTC"}))
    end)
  end)

  describe("bad input", function()
    it("names the field and the problem in one line", function()
      local cases = {
        [""] = "ECRON: empty expression",
        ["   "] = "ECRON: empty expression",
        ["0 24 * * *"] = "ECRON: field 'hour': value 24 out of range 0-23",
        ["60 * * * *"] = "ECRON: field 'minute': value 60 out of range 0-59",
        ["* * 0 * *"] = "ECRON: field 'day-of-month': value 0 out of range 1-31",
        ["* * * 13 *"] = "ECRON: field 'month': value 13 out of range 1-12",
        ["0-10000000 * * * *"] = "ECRON: field 'minute': value 10000000 out of range 0-59",
        ["0/0 * * * *"] = "ECRON: field 'minute': step 0 in '0/0' (a step is at least 1)",
        ["*/0 * * * *"] = "ECRON: field 'minute': step 0 in '*/0' (a step is at least 1)",
        ["1//2 * * * *"] = "ECRON: field 'minute': cannot read the step in '1//2'",
        ["* * * * mon,bad"] = "ECRON: field 'day-of-week': unknown name 'bad'",
        ["30-20 * * * *"] = "ECRON: field 'minute': range 30-20 in '30-20' is reversed"
          .. " (write the smaller value first)",
        ["1,,2 * * * *"] = "ECRON: field 'minute': empty list element",
        ["? * * * *"] = "ECRON: field 'minute': cannot read '?'",
        ["* * * *"] = "ECRON: expected 5 fields (minute hour day-of-month month day-of-week)"
          .. " or 6 with seconds first, got 4",
        ["* * * * * * *"] = "ECRON: expected 5 fields (minute hour day-of-month month"
          .. " day-of-week) or 6 with seconds first, got 7",
        ["0 0 * * *\n0 1 * * *"] = "ECRON: '0 0 * * *\\x0A0 1 * * *' has more than one line",
        ["\0 * * * *"] = "ECRON: field 'minute': cannot read '\\x00'",
      }
      for expr, message in pairs(cases) do assert.equal(message, fails(expr)) end
      assert.equal("ECRON: the acr dialect takes exactly 5 fields (minute hour day-of-month"
        .. " month day-of-week), got 7", fails("* * * * * * *", {dialect = "acr"}))
    end)

    it("says when an expression never fires", function()
      local c = assert(cron.parse("0 0 30 2 *"))
      local t, err, code = c:next(0)
      assert.is_nil(t)
      assert.equal("ECRON", code)
      assert.equal("ECRON: '0 0 30 2 *' never fires", err)
      assert.is_nil(c:prev(0))
      assert.is_nil(c:next(0, 3))
      -- rare is not never: February 29th on a Monday (AND), 27 years on
      local rare = assert(cron.parse("0 0 29 2 1", {dialect = "acr"}))
      assert.equal(time.parse_rfc3339("2044-02-29T00:00:00Z"),
        rare:next(time.parse_rfc3339("2017-01-01T00:00:00Z")))
    end)

    it("raises on misuse", function()
      assert.has_error(function() cron.parse(nil) end)
      assert.has_error(function() cron.parse("* * * * *", {dialect = "quartz"}) end,
        "bad argument #2 to 'parse' (unknown dialect 'quartz' (vixie or acr))")
      assert.has_error(function() cron.parse("* * * * *", {zone = "UTC"}) end)
      local c = assert(cron.parse("* * * * *"))
      assert.has_error(function() c:next("now") end)
      assert.has_error(function() c:next(1e300) end)
      assert.has_error(function() c:next(0, 0) end)
    end)
  end)

  describe("next() and prev()", function()
    it("answers strictly after and strictly before, lists and fractions too", function()
      local c = assert(cron.parse("0 10 * * *"))
      local ten = assert(time.parse_rfc3339("2024-01-01T10:00:00Z"))
      assert.equal(ten + 86400, c:next(ten))
      assert.equal(ten, c:next(ten - 1))
      assert.equal(ten, c:next(ten - 0.5))
      assert.equal(ten - 86400, c:prev(ten))
      assert.equal(ten, c:prev(ten + 0.5))
      assert.same({ten, ten + 86400, ten + 2 * 86400}, c:next(ten - 1, 3))
    end)
  end)

  describe("describe()", function()
    it("explains an expression in words", function()
      local cases = {
        ["0 10 * * *"] = "at 10:00, every day (UTC)",
        ["*/15 9-17 * * 1-5"] = "every 15 minutes of hours 9 through 17, on Monday through"
          .. " Friday (UTC)",
        ["45 16 1 * Mon"] = "at 16:45, on day 1 of the month or on Monday (UTC)",
        ["0 0 1-7 * */7"] = "at 00:00, on days 1 through 7 of the month, if that day is a"
          .. " Sunday (UTC)",
        ["30 9 * Jan Mon"] = "at 09:30, on Monday, in January (UTC)",
        ["@hourly"] = "at minute 0 of every hour, every day (UTC)",
        ["CRON_TZ=Europe/Berlin 0 3,15 * * *"] = "at 03:00 and 15:00, every day (Europe/Berlin)",
      }
      for expr, text in pairs(cases) do assert.equal(text, assert(cron.parse(expr)):describe()) end
      assert.equal("at 16:45, on day 1 of the month, if that day is a Monday (UTC)",
        assert(cron.parse("45 16 1 * Mon", {dialect = "acr"})):describe())
    end)
  end)

  describe("random input", function()
    -- any byte string gives a cron or the fail tuple, never a crash or a hang
    it("returns a cron or one ECRON line for any bytes", function()
      math.randomseed(20240331)
      local seeds = {"0 10 * * *", "*/15 9-17 * * 1-5", "5-30/5 1,2 1 JAN-MAR Mon",
        "@every 1h30m", "CRON_TZ=Europe/Berlin 0 3 * * *", "10/5 * * * * *", "@daily"}
      local alphabet = "0123456789*/-,@ \tJANMONjanmon?LW#xyzCRON_TZ=\0\255\n"
      local parsed = 0
      for i = 1, 3000 do
        local s
        if i % 3 == 0 then        -- random bytes
          local bytes = {}
          for k = 1, math.random(0, 24) do bytes[k] = string.char(math.random(0, 255)) end
          s = table.concat(bytes)
        else                      -- a valid expression with a few bytes changed
          s = seeds[math.random(#seeds)]
          for _ = 1, math.random(1, 3) do
            local at, ch = math.random(1, #s + 1), math.random(#alphabet)
            s = s:sub(1, at - 1) .. alphabet:sub(ch, ch) .. s:sub(at + (math.random(2) - 1))
          end
        end
        for _, dialect in ipairs({"vixie", "acr"}) do
          local c, err, code = cron.parse(s, {dialect = dialect})
          if c then
            parsed = parsed + 1
            local t = c:next(1700000000)
            assert.is_true(t == nil or t > 1700000000, s)
            assert.is_true(type(c:describe()) == "string")
          else
            assert.equal("ECRON", code, s)
            assert.matches("^ECRON: [^\n]+$", err)
          end
        end
      end
      assert.is_true(parsed > 100)
    end)
  end)

  describe("regsh cron", function()
    it("prints the next fire times in the zone, as text or JSON", function()
      local out, status = cmd.regsh({"cron", "next", "30 2 * * *", "--tz", "America/New_York",
        "--from", "2024-03-09T00:00", "--count", "3"})
      assert.equal(0, status)
      assert.equal("2024-03-09T02:30:00-05:00\n2024-03-10T03:00:00-04:00\n"
        .. "2024-03-11T02:30:00-04:00\n", out)
      out, status = cmd.regsh({"cron", "next", "@every 10m", "-o", "json", "--count", "2",
        "--from", "2024-01-01T00:00:00Z"})
      assert.equal(0, status)
      local doc = require("regsh.json").decode(out)
      assert.same({"2024-01-01T00:10:00Z", "2024-01-01T00:20:00Z"}, doc.next)
      assert.equal("UTC", doc.tz)
    end)

    it("explains an expression, and exits 2 with one line on a bad one", function()
      local out, status = cmd.regsh({"cron", "check", "45 16 1 * Mon", "--dialect", "acr"})
      assert.equal(0, status)
      assert.equal("at 16:45, on day 1 of the month, if that day is a Monday (UTC)\n", out)
      local err
      out, status, err = cmd.regsh({"cron", "check", "0 24 * * *"})
      assert.equal(2, status)
      assert.equal("", out)
      assert.equal("regsh cron: ECRON: field 'hour': value 24 out of range 0-23\n", err)
      out, status, err = cmd.regsh({"cron", "next", "* * * * 7", "--dialect", "acr"})
      assert.equal(2, status)
      assert.equal("regsh cron: ECRON: field 'day-of-week': value 7 out of range 0-6\n", err)
      out, status, err = cmd.regsh({"cron", "next", "0 0 30 2 *"})
      assert.equal(1, status)
      assert.equal("regsh cron: ECRON: '0 0 30 2 *' never fires\n", err)
      -- found by tests/fuzz/tzif: a transition near 2^63 overflowed cron.c's wall times
      local dir = cmd.temp_name()
      assert(require("regsh.fs").mkdir(dir .. "/Bad"))
      local seed = cmd.read_file("tests/fuzz/corpus/tzif/transition-near-int64-max")
      assert(require("regsh.fs").write_atomic(dir .. "/Bad/Zone", seed))
      out, status, err = cmd.regsh({"cron", "next", "30 2 * * *", "--tz", "Bad/Zone"}, nil,
        {TZDIR = dir})
      require("regsh.fs").remove_tree(dir)
      assert.equal(2, status)
      assert.equal("regsh cron: ECRON: time zone 'Bad/Zone': " .. dir .. "/Bad/Zone is not a TZif"
        .. " file (version 2 or later)\n", err)
      out, status, err = cmd.regsh({"cron", "next", "* * * * *", "--from", "yesterday"})
      assert.equal(2, status)
      assert.equal("regsh cron: --from: EDATE: \"yesterday\" is not an RFC 3339 timestamp\n", err)
    end)
  end)
end)
