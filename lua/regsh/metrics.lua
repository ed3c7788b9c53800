-- regsh.metrics: the process's own counters, gauges and histograms, kept in
-- Lua tables and written out in Prometheus's text format (version 0.0.4).
-- The scheduler and the purge engine count what they do here; `regsh serve
-- --metrics ADDR` serves render() over HTTP. Nothing here does I/O.
local M = {}

-- name -> {kind =, help =, buckets =, series = {key -> {labels =, value | counts, sum, count}}}
local families = {}
local order = {}

local NAME = "^[a-zA-Z_:][a-zA-Z0-9_:]*$"

--- The default duration buckets in seconds: a step of a few seconds up to a
--- task that runs for hours.
M.DURATION_BUCKETS = {1, 5, 15, 60, 300, 900, 3600, 14400}

local function family(name, kind, help, buckets)
  local f = families[name]
  if f then
    if f.kind ~= kind then
      error(string.format("metric %q is a %s, not a %s", name, f.kind, kind), 3)
    end
    return f
  end
  if type(name) ~= "string" or not name:match(NAME) then
    error(string.format("bad metric name %q", tostring(name)), 3)
  end
  f = {kind = kind, help = help or name, buckets = buckets, series = {}}
  families[name] = f
  order[#order + 1] = name
  return f
end

-- Label values escaped as the text format wants (backslash, quote, newline).
local function escape(v)
  return (tostring(v):gsub("[\\\"\n]", {["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n"}))
end

-- The series key and its rendered label set, labels sorted by name.
local function label_text(labels)
  if not labels or next(labels) == nil then return "" end
  local names = {}
  for k in pairs(labels) do names[#names + 1] = k end
  table.sort(names)
  local parts = {}
  for i, k in ipairs(names) do parts[i] = k .. '="' .. escape(labels[k]) .. '"' end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function series(f, labels)
  local key = label_text(labels)
  local s = f.series[key]
  if not s then
    s = {labels = key, value = 0}
    f.series[key] = s
  end
  return s
end

--- describe(name, kind, help [, buckets]): declares a family so that it is
--- listed (with its HELP and TYPE) even before anything is counted. kind is
--- "counter", "gauge" or "histogram".
function M.describe(name, kind, help, buckets)
  local f = family(name, kind, help, buckets)
  f.help = help or f.help
  if buckets then f.buckets = buckets end
end

--- inc(name, labels [, n]): adds n (default 1) to a counter.
function M.inc(name, labels, n)
  local s = series(family(name, "counter"), labels)
  s.value = s.value + (n or 1)
end

--- set(name, labels, v): sets a gauge.
function M.set(name, labels, v)
  series(family(name, "gauge"), labels).value = v
end

--- observe(name, labels, v): records v in a histogram.
function M.observe(name, labels, v)
  local f = family(name, "histogram", nil, M.DURATION_BUCKETS)
  local s = series(f, labels)
  if not s.counts then s.counts, s.sum, s.count = {}, 0, 0 end
  for i, b in ipairs(f.buckets) do
    if v <= b then s.counts[i] = (s.counts[i] or 0) + 1 end
  end
  s.sum, s.count = s.sum + v, s.count + 1
end

--- get(name [, labels]) -> the value of a counter or gauge series (0 when
--- never set), or the observation count of a histogram series.
function M.get(name, labels)
  local f = families[name]
  if not f then return 0 end
  local s = f.series[label_text(labels)]
  if not s then return 0 end
  return s.count or s.value
end

--- clear(name): forgets the series of one family, keeping its HELP and
--- TYPE (a gauge read afresh from somewhere else, so gone series vanish).
function M.clear(name)
  local f = families[name]
  if f then f.series = {} end
end

--- reset(): forgets every family (tests, and a serve that reloads).
function M.reset()
  families, order = {}, {}
end

local function number(v)
  if v == math.huge then return "+Inf" end
  if v == -math.huge then return "-Inf" end
  if v ~= v then return "NaN" end
  if math.type(v) == "integer" or v == math.floor(v) and math.abs(v) < 2^53 then
    return string.format("%d", v)
  end
  return string.format("%.17g", v)
end

-- "{a="1"}" plus le="5" -> "{a="1",le="5"}".
local function with_le(labels, le)
  if labels == "" then return '{le="' .. le .. '"}' end
  return labels:sub(1, -2) .. ',le="' .. le .. '"}'
end

--- render() -> the text exposition of every family, families in the order
--- they were first declared, series sorted by their labels.
function M.render()
  local out = {}
  for _, name in ipairs(order) do
    local f = families[name]
    out[#out + 1] = "# HELP " .. name .. " " .. f.help:gsub("[\\\n]", {["\\"] = "\\\\", ["\n"] = "\\n"})
    out[#out + 1] = "# TYPE " .. name .. " " .. f.kind
    local keys = {}
    for k in pairs(f.series) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local s = f.series[k]
      if f.kind == "histogram" then
        for i, b in ipairs(f.buckets) do
          out[#out + 1] = name .. "_bucket" .. with_le(k, number(b)) .. " " .. number(s.counts[i] or 0)
        end
        out[#out + 1] = name .. "_bucket" .. with_le(k, "+Inf") .. " " .. number(s.count)
        out[#out + 1] = name .. "_sum" .. k .. " " .. number(s.sum)
        out[#out + 1] = name .. "_count" .. k .. " " .. number(s.count)
      else
        out[#out + 1] = name .. k .. " " .. number(s.value)
      end
    end
  end
  return table.concat(out, "\n") .. "\n"
end

return M
