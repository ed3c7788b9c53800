-- bench/cron_next.lua (run by bench/cron): cron:next() evaluations per second
-- for typical expressions, against a minute-by-minute scan in Lua over the
-- same parsed fields (c:fields()), and the ratio. Both walk the same chain
-- of fire times from the same start, and the scan's answers are checked
-- against next()'s.
local cron = require "regsh.schedule.cron"

local START = 1700000000          -- 2023-11-14T22:13:20Z

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- the naive way: try every minute until one matches
local function scanner(c)
  local f = c:fields()
  local minute, hour, day = set_of(f.minute), set_of(f.hour), set_of(f.day)
  local month, weekday = set_of(f.month), set_of(f.weekday)
  local both = not (f.day_star or f.weekday_star) and c.dialect == "vixie"
  return function(t)
    t = (t // 60 + 1) * 60
    while true do
      local d = os.date("!*t", t)
      local in_day, in_weekday = day[d.day], weekday[d.wday - 1]
      if minute[d.min] and hour[d.hour] and month[d.month]
          and ((both and (in_day or in_weekday)) or (not both and in_day and in_weekday)) then
        return t
      end
      t = t + 60
    end
  end
end

local function rate(step, budget)
  local t, n, clock = START, 0, os.clock()
  repeat
    for _ = 1, 100 do t = step(t) end
    n = n + 100
    if t > START + 86400 * 365 * 50 then t = START end   -- stay within years 1..9999
  until os.clock() - clock >= budget
  return n / (os.clock() - clock)
end

local exprs = {"*/15 * * * *", "0 10 * * *", "*/15 9-17 * * 1-5", "0 0 1 * *",
  "45 16 1 * Mon", "30 2 * * *"}
print(string.format("%-22s %14s %14s %9s", "expression (UTC)", "next()/s", "scan/s", "ratio"))
for _, expr in ipairs(exprs) do
  local c = assert(cron.parse(expr))
  local scan = scanner(c)
  local t = START
  for _ = 1, 20 do                -- the two agree
    local a, b = c:next(t), scan(t)
    assert(a == b, expr .. ": next " .. a .. " scan " .. b)
    t = a
  end
  local fast = rate(function(x) return c:next(x) end, 0.5)
  local slow = rate(scan, 0.5)
  print(string.format("%-22s %14.0f %14.0f %8.0fx", expr, fast, slow, fast / slow))
end
for _, zone in ipairs({"Europe/Berlin", "America/New_York"}) do
  local c = assert(cron.parse("30 2 * * *", {tz = zone}))
  print(string.format("%-22s %14.0f", "30 2 * * * " .. zone:match("/(.*)"),
    rate(function(x) return c:next(x) end, 0.5)))
end
