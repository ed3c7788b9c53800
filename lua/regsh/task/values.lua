-- regsh.task.values: the values a task template sees as .Values (ACR §4.4):
-- `--set k=v` pairs, a YAML values file, base64 encoded values as `az acr
-- run` sends them, their merge, the template data, and the secret strings
-- a run log must never show.
local yaml = require("regsh.yaml")
local fs = require("regsh.fs")
local base64 = require("regsh.registry.base64")
local funcs = require("regsh.task.template_funcs")

local M = {}

local format = string.format

local function task_fail(fmt, ...)
  local message = format(fmt, ...)
  return nil, "ETASK: " .. message, "ETASK"
end

local function check_string(v, fname, argn)
  if type(v) ~= "string" then
    error(format("bad argument #%d to '%s' (string expected, got %s)", argn, fname, type(v)), 3)
  end
end

--- parse_set("k=v") -> k, v | nil, "ETASK: ...", "ETASK"
--- Split at the first '=': the value may hold more of them, the key is a
--- flat literal ("a.b" stays one key) and must not be empty.
function M.parse_set(text)
  check_string(text, "parse_set", 1)
  local key, value = text:match("^([^=]*)=(.*)$")
  if not key then return task_fail("--set %q: expected KEY=VALUE", text) end
  if key == "" then return task_fail("--set %q: the key is empty", text) end
  return key, value
end

--- parse_sets({"k=v", ...}) -> {k = v} | fail: a later pair of the same key wins.
function M.parse_sets(list)
  local out = {}
  for i, text in ipairs(list or {}) do
    if type(text) ~= "string" then
      error(format("bad argument #1 to 'parse_sets' (item %d: string expected, got %s)", i, type(text)), 2)
    end
    local key, value, code = M.parse_set(text)
    if not key then return nil, value, code end
    out[key] = value
  end
  return out
end

--- load_text(text [, name]) -> table | fail: a values document (YAML) as a
--- table; an empty document is no values. ETASK names the file.
function M.load_text(text, name)
  check_string(text, "load_text", 1)
  name = name or "values"
  local doc, err = yaml.decode(text, name)
  if err then return task_fail("values file %s: %s", name, require("regsh.errors").detail(err)) end
  if doc == nil or doc == yaml.null then return {} end
  if type(doc) ~= "table" or (next(doc) ~= nil and funcs.is_array(doc)) then
    return task_fail("values file %s: expected a map of names to values, got %s", name,
      funcs.go_type(doc))
  end
  return doc
end

--- load_file(path) -> table | fail (ENOENT... for a file that cannot be
--- read, ETASK for one that is not a YAML map).
function M.load_file(path)
  check_string(path, "load_file", 1)
  local text, err, code = fs.read_file(path)
  if not text then return nil, err, code end
  return M.load_text(text, path)
end

--- decode_encoded(b64) -> text | fail: the text of `--encoded-values` or
--- `--encoded-task` (standard base64, white space ignored).
function M.decode_encoded(b64)
  check_string(b64, "decode_encoded", 1)
  local clean = b64:gsub("%s", "")
  if clean:find("[^A-Za-z0-9+/=]") or #clean % 4 ~= 0 or clean:find("=[^=]") then
    return task_fail("encoded content is not valid base64")
  end
  return (base64.decode(clean))
end

--- merge(sets, file_values) -> table: ACR's rule: every --set pair, then
--- each values-file key the sets do not have (so --set wins on a clash).
function M.merge(sets, file_values)
  local out = {}
  for k, v in pairs(file_values or {}) do out[k] = v end
  for k, v in pairs(sets or {}) do out[k] = v end
  return out
end

--- secret_strings(merged, secret_keys) -> {strings}: the values of the
--- secret keys (--set-secret) and their base64 forms ({{.x | b64enc}} puts
--- those in a command), longest first so a redactor replaces whole ones.
function M.secret_strings(merged, secret_keys)
  local seen, out = {}, {}
  local function add(s)
    if s ~= "" and not seen[s] then seen[s] = true; out[#out + 1] = s end
  end
  for _, key in ipairs(secret_keys or {}) do
    local v = merged and merged[key]
    if not funcs.is_nil(v) then
      local s = funcs.text(v)
      add(s)
      add(base64.encode(s))
    end
  end
  table.sort(out, function(a, b) return #a > #b or (#a == #b and a < b) end)
  return out
end

--- shell_quote(s): s as one shell word, quoted only when it has a
--- character outside [%w_^@=+%,:./-] (how ACR quotes ValuesJSON/RunJSON).
function M.shell_quote(s)
  if s ~= "" and not s:find("[^%w_^@=+%%,:./-]") then return s end
  return "'" .. s:gsub("'", "'\"'\"'") .. "'"
end

--- template_data(run_info, merged_values, secrets) -> the data a task
--- template renders with: .Run (also .Build), .Values, .Secrets, and
--- .ValuesJSON / .RunJSON (shell-quoted JSON).
function M.template_data(run_info, merged, secrets)
  local to_json = funcs.functions.toJson.fn
  run_info, merged = run_info or {}, merged or {}
  return {
    Run = run_info, Build = run_info, Values = merged, Secrets = secrets or {},
    ValuesJSON = M.shell_quote(to_json(merged)), RunJSON = M.shell_quote(to_json(run_info)),
  }
end

return M
