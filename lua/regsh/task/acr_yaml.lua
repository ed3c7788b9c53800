-- regsh.task.acr_yaml: ACR task YAML to the task model, in acb's own order
-- (reference §0): `#` lines out, version, aliases (v1.1.0+), secrets pre-pass,
-- Go-template render (regsh.task.template), lenient decode, model.normalize,
-- command aliases. Template failures are ETEMPLATE, everything else ETASK.
local model = require "regsh.task.model"

local M = {}

-- Built-in aliases (acb graph/global-defaults-linux.go). The image tags move
-- with acb releases: opts.image_aliases overrides them.
M.RUN_ALIASES = {"ID", "SharedVolume", "Registry", "RegistryName", "Date", "OS", "Architecture",
                 "Commit", "Branch"}
M.IMAGE_ALIASES = {
  acr = "mcr.microsoft.com/acr/acr-cli:0.19",
  az = "mcr.microsoft.com/acr/azure-cli:2ff604c",
  bash = "mcr.microsoft.com/acr/bash:2ff604c",
  curl = "mcr.microsoft.com/acr/curl:2ff604c",
  cssc = "mcr.microsoft.com/acr/cssc:2ff604c",
}
M.ALIAS_VERSION = "v1.1.0"

local function fail(message, code)
  code = code or "ETASK"
  return nil, code .. ": " .. message, code
end

local function lines_of(text)
  local lines = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
  return lines
end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

--- strip_comments(text) -> text without the lines whose trimmed form starts
--- with '#' (acb templating.NewTemplate: block scalars included), and the
--- original line number of each line kept.
function M.strip_comments(text)
  local kept, from = {}, {}
  for i, line in ipairs(lines_of(text)) do
    if trim(line):sub(1, 1) ~= "#" then kept[#kept + 1] = line; from[#from + 1] = i end
  end
  return table.concat(kept, "\n"), from
end

--- find_version(text) -> the value of the first unindented `version:` line,
--- quotes trimmed, or "" (acb graph.FindVersion).
function M.find_version(text)
  for _, line in ipairs(lines_of(text)) do
    local t = trim(line)
    if t ~= "" and t:sub(1, 1) ~= "#" and line:gsub("^['\"]+", ""):sub(1, 7) == "version" then
      local key, value = line:match("^([^:]*):(.*)$")
      if key and trim(key):gsub("^['\"]+", ""):gsub("['\"]+$", "") == "version" then
        return (trim(value):gsub("^['\"]+", ""):gsub("['\"]+$", ""))
      end
    end
  end
  return ""
end

--- aliases_enabled(version) -> whether acb preprocesses aliases: Go's string
--- comparison version >= "v1.1.0" ("V1.1.0" and "" do not).
function M.aliases_enabled(version)
  return version >= M.ALIAS_VERSION
end

--- separate(text) -> alias_block, rest, rest_lines (acb SeparateAliasFromRest):
--- the block runs from a top-level `alias:` line to the next top-level `key:`
--- line; comment lines leave both; rest_lines[k] is the input line of rest's k-th.
function M.separate(text)
  local alias, rest, inside, from = {}, {}, false, {}
  for i, line in ipairs(lines_of(text)) do
    line = line:gsub("\r$", "")
    if not line:match("^%s*#") then
      if not inside and line:match("^alias%s*:") then
        inside = true
      elseif inside and line:match("^[^%s:][^:]*:") then
        inside = false
      end
      local into = inside and alias or rest
      into[#into + 1] = line .. "\n"
      if not inside then from[#rest] = i end
    end
  end
  -- lines_of adds an empty last line for text ending in "\n"; the scanner does not
  if text:sub(-1) == "\n" or text == "" then
    if rest[#rest] == "\n" then rest[#rest] = nil
    elseif alias[#alias] == "\n" then alias[#alias] = nil end
  end
  return table.concat(alias), table.concat(rest), from
end

local function is_alnum(ch) return #ch == 1 and ch:match("^%w$") ~= nil end

-- the characters (UTF-8 sequences) of s, stray continuation bytes kept
local function chars(s)
  local out = {}
  local lead = s:match("^[\128-\191]+")
  if lead then out[1] = lead; s = s:sub(#lead + 1) end
  for ch in s:gmatch("[^\128-\191][\128-\191]*") do out[#out + 1] = ch end
  return out
end

--- substitute(text, map, directive) -> text with every `<directive>name`
--- replaced by map[name] (acb preprocessString): a name is the longest run of
--- [A-Za-z0-9]; an unknown name is kept with its directive; a doubled
--- directive is one literal directive; a known name ending at the directive
--- starts the next name at once ($a$b).
function M.substitute(text, map, directive)
  directive = directive or "$"
  local out, name, ongoing = {}, {}, false
  local list = chars(text)
  list[#list + 1] = " "   -- forces the machine to its end; removed below
  for _, ch in ipairs(list) do
    if ongoing then
      if ch == directive and #name == 0 then
        out[#out + 1] = directive
        ongoing = false
      elseif not is_alnum(ch) then
        local key = table.concat(name)
        local value = map[key]
        if value == nil then
          out[#out + 1] = directive .. key .. ch
          ongoing = false
        else
          out[#out + 1] = value
          if ch ~= directive then
            ongoing = false
            out[#out + 1] = ch
          end
        end
        name = {}
      else
        name[#name + 1] = ch
      end
    elseif ch == directive then
      ongoing = true
    else
      out[#out + 1] = ch
    end
  end
  local result = table.concat(out)
  if result:sub(-1) == " " then result = result:sub(1, -2) end
  return result
end

local function render(text, data, name)
  if text == "" then return "" end
  local template = require "regsh.task.template"
  local rendered, err, code = template.render(text, data, {name = name})
  if not rendered then return nil, err, code end
  return rendered
end

-- a flat YAML map of strings (alias values, alias src files)
local function string_map(value, what)
  local json = require "regsh.json"
  if value == nil or value == json.null then return {} end
  if type(value) ~= "table" or getmetatable(value) == json.array_mt then
    return nil, what .. ": a map of names to strings expected"
  end
  local out = {}
  for k, v in pairs(value) do
    if type(v) == "table" then return nil, what .. ": " .. tostring(k) .. ": a string expected" end
    if v == json.null then v = "" end
    out[tostring(k)] = math.type(v) == "integer" and string.format("%d", v) or tostring(v)
  end
  return out
end

local function default_fetch(url)
  local res, err = require("regsh.http").get(url, {timeout = 2})
  if not res then return nil, err end
  if res.status > 299 then
    return nil, string.format("HTTP %d: %s", res.status, (res.body or ""):sub(1, 200))
  end
  return res.body
end

local function add_missing(map, from)
  for k, v in pairs(from) do
    if map[k] == nil then map[k] = v end
  end
end

--- alias_map(block_text, opts) -> map, directive | nil, err, code: the
--- definitions in precedence order: inline values, src (last listed first),
--- built-ins; then the checks acb makes on the whole map.
function M.alias_map(block, opts)
  local yaml = require "regsh.yaml"
  local doc, err = yaml.decode(block, opts.name)
  if doc == nil then
    return fail("error during alias unmarshaling: " .. require("regsh.errors").detail(err))
  end
  local alias = type(doc) == "table" and doc.alias or nil
  if type(alias) ~= "table" then alias = {} end
  local map, problem = string_map(alias.values, "alias.values")
  if not map then return fail(problem) end
  local src = alias.src
  if type(src) ~= "table" then src = src ~= nil and src ~= yaml.null and {src} or {} end
  for i = #src, 1, -1 do
    local where = tostring(src[i])
    local body, ferr
    if where:match("^https?://") then
      body, ferr = (opts.fetch or default_fetch)(where)
    else
      local path = where
      if path:sub(1, 1) ~= "/" and opts.base_dir then path = opts.base_dir .. "/" .. path end
      body, ferr = require("regsh.fs").read_file(path)
    end
    if not body then return fail("alias src " .. where .. ": " .. tostring(ferr)) end
    local values, derr = yaml.decode(body, where)
    if derr then return fail("alias src " .. require("regsh.errors").detail(derr)) end
    local more, merr = string_map(values, "alias src " .. where)
    if not more then return fail(merr) end
    add_missing(map, more)
  end
  local builtins = {}
  for _, key in ipairs(M.RUN_ALIASES) do builtins[key] = "{{.Run." .. key .. "}}" end
  for key, image in pairs(M.IMAGE_ALIASES) do builtins[key] = image end
  for key, image in pairs(opts.image_aliases or {}) do builtins[key] = image end
  add_missing(map, builtins)
  local directive = "$"
  local written = alias.directive
  if written ~= nil and written ~= yaml.null and tostring(written) ~= "" then
    written = tostring(written)
    if utf8.len(written) ~= 1 then
      return fail("$ directive can only be overwritten by a single character")
    end
    if written:match("^%w$") then
      return fail("overwritten directives may not be alphanumeric characters")
    end
    directive = written
  end
  for key in pairs(map) do
    if not key:match("^%w+$") then
      return fail("alias key names only support alphanumeric characters")
    end
  end
  return map, directive
end

local function run_data(opts)
  local run = opts.run or M.run_info(opts)
  return {Run = run, Build = run, Values = opts.values or {}, Secrets = {}}
end

--- run_info(opts) -> the `.Run` data a dry render uses: ID "dryrun" (or
--- opts.id), Registry opts.registry, the date now in UTC.
function M.run_info(opts)
  opts = opts or {}
  local registry = opts.registry or ""
  return {ID = opts.id or "dryrun", Registry = registry,
          RegistryName = registry:match("^[^.]*"), Date = os.date("!%Y%m%d-%H%M%Sz"),
          SharedVolume = opts.shared_volume or "", OS = "linux", Architecture = "amd64",
          Commit = opts.commit or "", Branch = opts.branch or "", TaskName = opts.task_name or ""}
end

-- The top-level keys written more than once: yaml.v2 keeps the last, so the
-- earlier blocks become blank lines (line numbers stay right).
local function drop_duplicate_top_keys(text)
  local lines = lines_of(text)
  local blocks, last = {}, {}
  local current
  for i, line in ipairs(lines) do
    local key = line:match("^[\"']?([%w_%-%.]+)[\"']?%s*:")
    if key then
      current = {key = key, first = i, last = i}
      blocks[#blocks + 1] = current
      last[key] = current
    elseif current and (line:match("^[%s%-]") or line == "") then
      current.last = i
    elseif line:match("^%S") then
      current = nil
    end
  end
  local changed = false
  for _, b in ipairs(blocks) do
    if last[b.key] ~= b then
      for i = b.first, b.last do lines[i] = "" end
      changed = true
    end
  end
  if not changed then return text end
  return table.concat(lines, "\n"):sub(1, #text)
end

--- step_lines(text) -> {{line, column}, ...}: where each item of the
--- top-level `steps:` block sequence starts (for error messages).
function M.step_lines(text)
  local out, inside, indent = {}, false, nil
  for i, line in ipairs(lines_of(text)) do
    if not inside then
      if line:match("^steps%s*:%s*$") then inside = true end
    elseif not line:match("^%s*$") then   -- blank lines belong to what surrounds them
      local lead, dash = line:match("^(%s*)(%-)[%s]")
      if not dash then lead, dash = line:match("^(%s*)(%-)$") end
      if indent == nil and dash then indent = #lead end
      if indent ~= nil and dash and #lead == indent then
        out[#out + 1] = {i, indent + 1}
      elseif #line:match("^%s*") < (indent or 1) and not (dash and #lead == indent) then
        break
      end
    end
  end
  return out
end

local function render_all(text, opts)
  local result = {warnings = {}}
  local name = opts.name or "acb.yaml"
  local line_map
  text, line_map = M.strip_comments(text)
  result.stripped = text
  result.version = M.find_version(text)
  result.aliases = M.aliases_enabled(result.version)
  local data = run_data(opts)
  if result.aliases then
    local block, rest, rest_lines = M.separate(text)
    for k, i in ipairs(rest_lines) do rest_lines[k] = line_map[i] end
    line_map = rest_lines
    local rendered, err, code = render(block, data, name .. " (alias)")
    if not rendered then return nil, err, code end
    local map, directive_or_err, fcode = M.alias_map(rendered, {name = name, fetch = opts.fetch,
      base_dir = opts.base_dir, image_aliases = opts.image_aliases})
    if not map then return nil, directive_or_err, fcode end
    result.alias_map, result.directive = map, directive_or_err
    text = M.substitute(rest, map, directive_or_err)
  end
  result.processed = text
  result.line_map = line_map
  if text == "" then
    result.rendered = ""
    return result
  end
  -- secrets pre-pass: Key Vault is not reachable from here; opts.secrets
  -- (id -> value) stands in, and an unresolved one renders empty
  if text:find("secrets", 1, true) then
    local first, err, code = render(text, data, name)
    if not first then return nil, err, code end
    local doc = require("regsh.yaml").decode(drop_duplicate_top_keys(first), name)
    local secrets = {}
    if type(doc) == "table" and type(doc.secrets) == "table" then
      for _, s in ipairs(doc.secrets) do
        if type(s) == "table" and s.id ~= nil then
          local id = tostring(s.id)
          local value = (opts.secrets or {})[id]
          if value == nil then
            value = ""
            result.warnings[#result.warnings + 1] = string.format(
              "secret %s (%s) cannot be resolved here (no Key Vault access): it renders empty; "
              .. "give its value with --secret ID=VALUE (opts.secrets)", id, tostring(s.keyvault or ""))
          end
          secrets[id] = value
        end
      end
    end
    data.Secrets = secrets
  end
  local rendered, err, code = render(text, data, name)
  if not rendered then return nil, err, code end
  if rendered == "" then return fail(name .. ": rendered template was empty") end
  result.rendered = rendered
  -- rendered line -> file line, while the render kept the line count
  if select(2, rendered:gsub("\n", "")) ~= select(2, text:gsub("\n", "")) then
    result.line_map = nil
  end
  return result
end

--- render(text, opts) -> rendered YAML text | nil, err, code: stages 2-7
--- (unlike `acb render`, the alias phase included).
function M.render(text, opts)
  local result, err, code = render_all(text, opts or {})
  if not result then return nil, err, code end
  return result.rendered, result.warnings
end

--- expand_command_aliases(task, map): the first space-separated token of
--- each cmd that names an alias becomes its value (no directive needed).
function M.expand_command_aliases(task, map)
  for _, s in ipairs(task.steps) do
    if s.kind == "cmd" then
      local parts = {}
      for part in (trim(s.cmd) .. " "):gmatch("(.-) ") do parts[#parts + 1] = part end
      local value = map[parts[1]]
      if value ~= nil then
        parts[1] = value
        s.cmd = table.concat(parts, " ")
      end
    end
  end
end

--- process(text, opts) -> result | nil, err, code: every stage; result =
--- {task, raw (the decoded table), version, aliases, alias_map, rendered,
--- stripped, warnings}. Used by load() and by lint.
function M.process(text, opts)
  opts = opts or {}
  if type(text) ~= "string" then
    error("bad argument #1 to 'load' (string expected, got " .. type(text) .. ")", 2)
  end
  local name = opts.name or "acb.yaml"
  local result, err, code = render_all(text, opts)
  if not result then return nil, err, code end
  local yaml = require "regsh.yaml"
  local raw = {}
  local map = result.line_map
  local function file_line(n) return map and map[n] or n end
  if result.rendered ~= "" then
    local decoded, derr = yaml.decode(drop_duplicate_top_keys(result.rendered), name)
    if derr then
      derr = require("regsh.errors").detail(derr)
      local at = #name + 2
      local line, rest = derr:sub(at):match("^(%d+)(:.*)$")
      if derr:sub(1, at - 1) == name .. ":" and line then
        rest = rest:gsub("at (%d+):(%d+)%)$", function(l, c)
          return "at " .. file_line(tonumber(l)) .. ":" .. c .. ")"
        end)
        derr = name .. ":" .. file_line(tonumber(line)) .. rest
      end
      return fail(derr)
    end
    if decoded ~= yaml.null then raw = decoded end
  end
  if type(raw) ~= "table" or getmetatable(raw) == require("regsh.json").array_mt then
    return fail(name .. ": a task is a mapping (version, steps, ...), not a "
      .. (type(raw) == "table" and "sequence" or type(raw)))
  end
  result.raw = raw
  local step_lines = M.step_lines(result.rendered)
  for _, at in ipairs(step_lines) do at[1] = file_line(at[1]) end
  result.file_line = file_line
  local key_lines = {}
  for i, line in ipairs(lines_of(result.rendered)) do
    local key = line:match("^[\"']?([%w_]+)[\"']?%s*:")
    if key then key_lines[key] = {file_line(i), 1} end
  end
  local task, nerr, ncode = model.normalize(raw, {name = name, env = opts.env,
    task_name = opts.task_name, step_lines = step_lines, key_lines = key_lines,
    default_workdir = opts.default_workdir})
  if not task then return nil, nerr, ncode end
  if result.aliases then M.expand_command_aliases(task, result.alias_map) end
  task.warnings = result.warnings
  result.task = task
  return result
end

--- load(text, opts) -> task | nil, err, code (ETASK, ETEMPLATE)
--- opts: {name, run, registry, values, secrets, base_dir, fetch, image_aliases, env, task_name}
function M.load(text, opts)
  local result, err, code = M.process(text, opts)
  if not result then return nil, err, code end
  return result.task
end

return M
