-- List every repository, tag, digest and image age of a registry:
--   regsh scripts/examples/inventory.lua HOST [LUA-PATTERN]
-- Tags are inspected concurrently (eight requests in flight).
local host = arg[1] or error("usage: regsh inventory.lua HOST [pattern]", 0)
local reg = regsh.registry.open(host)

local function age_in_days(created)
  local y, mo, d, h, mi, s = created:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  if not y then return nil end
  -- os.time reads the table as local time; the difference to a UTC reading of
  -- "now" cancels the zone offset out
  local t = os.time({year = y, month = mo, day = d, hour = h, min = mi, sec = s})
  local now = os.time(os.date("!*t"))
  return (now - t) / 86400
end

for _, repo in ipairs(assert(reg:repositories(arg[2]))) do
  local tags = assert(reg:tags(repo))
  local rows = regsh.gather((function()
    local jobs = {}
    for i, tag in ipairs(tags) do
      jobs[i] = function()
        local manifest = assert(reg:manifest(repo, tag.name))
        local config = assert(reg:config(repo, manifest))
        return {tag = tag.name, digest = manifest.digest, age = age_in_days(config.created or "")}
      end
    end
    return jobs
  end)(), {concurrency = 8})
  table.sort(rows, function(a, b) return (a.age or 0) < (b.age or 0) end)
  print(repo)
  for _, row in ipairs(rows) do
    print(string.format("  %-10s %s  %5.1f days", row.tag, row.digest:sub(1, 19), row.age or -1))
  end
end
