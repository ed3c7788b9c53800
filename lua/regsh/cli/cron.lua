-- regsh cron next|check EXPR: fire times of a cron expression (ISO 8601 in
-- the expression's zone) and its meaning in words. A bad expression is a usage
-- error: exit 2 and one line naming the field.
local cli = require "regsh.cli"
local cron = require "regsh.schedule.cron"

local function common(cmd)
  cmd:argument("expression", "The cron expression (quote it): '0 10 * * *', '@daily',"
    .. " 'CRON_TZ=Europe/Berlin 30 9 * * 1-5'.")
  cmd:option("--tz", "Time zone (IANA name, e.g. Europe/Berlin); default UTC.")
    :argname("<zone>")
  cmd:option("--dialect", "vixie (cron's: 7 is Sunday, macros, seconds, day fields ORed)"
    .. " or acr (ACR Tasks' NCrontab: exactly 5 fields, day fields ANDed).")
    :choices({"vixie", "acr"}):default("vixie")
  cmd:option("-o --output", "Output format: text or json."):choices({"text", "json"})
    :default("text")
end

-- one line, exit 2: the expression (or an option) cannot be read
local function bad(message)
  io.stderr:write("regsh cron: ", message, "\n")
  return cli.EXIT_USAGE
end

local function parse(args)
  return cron.parse(args.expression, {dialect = args.dialect, tz = args.tz})
end

local function next_times(args)
  local c, err = parse(args)
  if not c then return bad(err) end
  local from = require("regsh.time").now()
  if args.from then
    local t, terr = c:time(args.from)
    if not t then return bad("--from: " .. terr) end
    from = t
  end
  local count = math.tointeger(tonumber(args.count))
  if not count or count < 1 or count > 10000 then
    return bad("--count: expected a whole number from 1 to 10000, got '" .. args.count .. "'")
  end
  local times, nerr = c:next(from, count)
  if not times then return nil, nerr end
  local text = {}
  for i, t in ipairs(times) do text[i] = c:format(t) end
  if args.output == "json" then
    cli.print_json({expression = c.expr, dialect = c.dialect, tz = c.tz,
      from = c:format(from), next = text})
  else
    io.stdout:write(table.concat(text, "\n"), "\n")
  end
  return 0
end

local function check(args)
  local c, err = parse(args)
  if not c then return bad(err) end
  local description = c:describe()
  local first, nerr = c:next(require("regsh.time").now())
  if args.output == "json" then
    cli.print_json({expression = c.expr, dialect = c.dialect, tz = c.tz,
      description = description, next = first and c:format(first) or nil})
  else
    io.stdout:write(description, "\n")
  end
  if not first then return nil, nerr end
  return 0
end

return {
  summary = "Show a cron expression's next fire times, or explain it.",
  description = "Cron expressions as regsh's scheduler reads them (docs/reference/cron.md).",
  examples = {
    "regsh cron next '0 10 * * *' --count 3",
    "regsh cron next '30 2 * * *' --tz America/New_York --from 2024-03-09T00:00",
    "regsh cron check '45 16 1 * Mon' --dialect acr",
  },
  configure = function(cmd)
    cmd:command_target("action")
    local n = cmd:command("next", "Print the next fire times, strictly after --from.")
    common(n)
    n:option("--from", "Start: ISO 8601 with an offset (2024-03-09T00:00:00Z), or a wall"
      .. " time in the zone (2024-03-09T00:00); default now."):argname("<time>")
    n:option("--count", "How many fire times."):default("5"):argname("<n>")
    common(cmd:command("check", "Explain an expression in words (exit 2 when it is bad)."))
  end,
  run = function(args)
    if args.action == "next" then return next_times(args) end
    return check(args)
  end,
}
