-- regsh.task.lint: the traps of ACR task YAML that acb accepts silently:
-- racy implicit dependencies, duplicate `when` ids, shell variables an alias
-- clobbers, unknown or dead keys, aliases a version turns off. Runs the
-- whole acr_yaml pipeline first, so a file that does not load is an error.
local acr_yaml = require "regsh.task.acr_yaml"
local model = require "regsh.task.model"

local M = {}

local DEAD_TASK_KEYS = {
  totalTimeout = "totalTimeout was removed from ACR (acb PR #417) and is ignored; the whole "
    .. "run's limit is the run timeout (regsh run --timeout, default 3600)",
  push = "a top-level push is not a task property (ignored); use a push step",
}
local DEAD_STEP_KEYS = {
  exitedWith = "exitedWith is parsed but was never implemented by ACR: it has no effect",
  exitedWithout = "exitedWithout is parsed but was never implemented by ACR: it has no effect",
  secret = "steps have no secret property (ignored): secrets are declared at the task level "
    .. "and used as {{.Secrets.ID}}",
  volumeMount = "the key is volumeMounts (volumeMount is ignored)",
}

local function lines_of(text)
  local lines = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
  return lines
end

-- a known key spelled with other case, or the known key it starts
local function suggestion(key, known)
  local lower = key:lower()
  for k in pairs(known) do
    if k:lower() == lower then return k end
  end
  for k in pairs(known) do
    if #lower >= 4 and k:lower():sub(1, #lower) == lower then return k end
  end
  return nil
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  return keys
end

-- the line of `key:` among lines[from..to] (1 when not found)
local function key_line(lines, from, to, key)
  local pattern = "^[%s%-]*[\"']?" .. key:gsub("%p", "%%%0") .. "[\"']?%s*:"
  for i = from, math.min(to, #lines) do
    if lines[i]:match(pattern) then return i end
  end
  return from
end

-- `$Name` uses of aliases: {line, name, quoted} for each reference in text
-- the substitution would replace (escapes `$$` skipped).
local function alias_uses(text, map, directive)
  local uses = {}
  for n, line in ipairs(lines_of(text)) do
    local i, quoted, template = 1, false, false
    while i <= #line do
      local c = line:sub(i, i)
      if line:sub(i, i + #directive - 1) == directive then
        local after = i + #directive
        if line:sub(after, after + #directive - 1) == directive then
          i = after + #directive
        else
          local name = line:match("^%w+", after) or ""
          if name ~= "" and map[name] ~= nil then
            uses[#uses + 1] = {line = n, name = name, quoted = quoted, template = template}
          end
          i = after + #name
        end
      else
        if c == "'" then quoted = not quoted end
        if line:sub(i, i + 1) == "{{" then template = true end
        if line:sub(i, i + 1) == "}}" then template = false end
        i = i + 1
      end
    end
  end
  return uses
end

--- check(text, opts) -> warnings | nil, err, code. opts as acr_yaml.load's;
--- warnings: array of {line = n | nil, message = "..."} in file order, and
--- each also as a string "name:line: message" in warnings.text[i].
function M.check(text, opts)
  opts = opts or {}
  local name = opts.name or "acb.yaml"
  local result, err, code = acr_yaml.process(text, opts)
  if not result then return nil, err, code end
  local warnings = {}
  local function warn(line, message) warnings[#warnings + 1] = {line = line, message = message} end
  for _, w in ipairs(result.warnings) do warn(nil, w) end

  local rendered = lines_of(result.rendered)
  local starts = acr_yaml.step_lines(result.rendered)
  local raw, task = result.raw, result.task

  -- top-level keys
  for _, key in ipairs(sorted_keys(raw)) do
    local at = key_line(rendered, 1, #rendered, key)
    if DEAD_TASK_KEYS[key] then
      warn(at, DEAD_TASK_KEYS[key])
    elseif not model.TASK_KEYS[key] then
      local hint = suggestion(key, model.TASK_KEYS)
      warn(at, "unknown top-level key " .. key .. " (ignored)" .. (hint and "; did you mean "
        .. hint .. "?" or ""))
    end
  end
  if not result.aliases and raw.alias ~= nil then
    warn(key_line(rendered, 1, #rendered, "alias"), string.format("the alias block is ignored: "
      .. "version %q turns aliases off (they need version v1.1.0 or later)", result.version))
  end

  local raw_steps = type(raw.steps) == "table" and raw.steps or {}
  if #task.steps == 0 then warn(nil, "the task has no steps") end
  for i, s in ipairs(task.steps) do
    local rs = raw_steps[i] or {}
    local from = starts[i] and starts[i][1] or 1
    local to = starts[i + 1] and starts[i + 1][1] - 1 or #rendered
    for _, key in ipairs(sorted_keys(type(rs) == "table" and rs or {})) do
      if DEAD_STEP_KEYS[key] then
        warn(key_line(rendered, from, to, key), "step " .. s.id .. ": " .. DEAD_STEP_KEYS[key])
      elseif not model.STEP_KEYS[key] then
        local hint = suggestion(key, model.STEP_KEYS)
        warn(key_line(rendered, from, to, key), "step " .. s.id .. ": unknown key " .. key
          .. " (ignored)" .. (hint and "; did you mean " .. hint .. "?" or ""))
      end
    end
    -- duplicate when entries: acb would wait forever; regsh counts each once
    local seen = {}
    for _, dep in ipairs(s.when or {}) do
      if seen[dep] == 1 then
        warn(key_line(rendered, from, to, "when"), "step " .. s.id .. ": when lists " .. dep
          .. " more than once (ACR would never start the step; regsh counts it once)")
      end
      seen[dep] = (seen[dep] or 0) + 1
    end
    -- the implicit previous-step rule after a parallel step
    local prev = task.steps[i - 1]
    if prev and (s.when == nil or #s.when == 0) and prev.when and #prev.when == 1
      and prev.when[1] == "-" then
      local others = {}
      for j = 1, i - 2 do
        local o = task.steps[j]
        if o.when and #o.when == 1 and o.when[1] == "-" then others[#others + 1] = o.id end
      end
      local also = #others > 0 and " (not for " .. table.concat(others, ", ") .. ", which also "
        .. "started at once)" or ""
      warn(from, "step " .. s.id .. " has no when: it waits only for the previous step "
        .. prev.id .. also .. "; list its dependencies in when")
    end
  end

  -- aliases: shell variables they clobber, or aliases a version turns off
  if result.aliases then
    local _, rest, rest_lines = acr_yaml.separate(result.stripped)
    local _, kept = acr_yaml.strip_comments(text)
    for _, use in ipairs(alias_uses(rest, result.alias_map, result.directive)) do
      if use.quoted or use.template then
        warn(nil, string.format("%s%s inside %s is replaced by the alias %s (version %s); write "
          .. "%s%s%s for a literal %s%s", result.directive, use.name,
          use.template and "a template action" or "a quoted shell string", use.name,
          result.version, result.directive, result.directive, use.name, result.directive,
          use.name))
        warnings[#warnings].file_line = kept[rest_lines[use.line]]
      end
    end
  else
    local map = {}
    for _, key in ipairs(acr_yaml.RUN_ALIASES) do map[key] = true end
    if type(raw.alias) == "table" and type(raw.alias.values) == "table" then
      for key in pairs(raw.alias.values) do map[tostring(key)] = true end
    end
    local named = {}
    for _, use in ipairs(alias_uses(result.rendered, map, "$")) do
      if not named[use.name] then
        named[use.name] = true
        warn(use.line, string.format("$%s looks like an alias, but version %q turns aliases "
          .. "off (they need version v1.1.0 or later): it stays $%s", use.name, result.version,
          use.name))
      end
    end
  end

  for _, w in ipairs(warnings) do
    if w.line then w.line = result.file_line(w.line) end
    w.line = w.line or w.file_line
    w.text = (w.line and name .. ":" .. w.line or name) .. ": " .. w.message
  end
  table.sort(warnings, function(a, b)
    if (a.line or 0) ~= (b.line or 0) then return (a.line or 0) < (b.line or 0) end
    return a.message < b.message
  end)
  return warnings
end

return M
