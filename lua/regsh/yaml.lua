-- regsh.yaml: YAML for scripts and task files, over regsh.core.yaml (libyaml,
-- src/yaml_decode.c and src/yaml_encode.c). Sequences come back marked with
-- regsh.json's array marker, so an empty one stays [] through both encoders.
local core = require("regsh.core.yaml")
local json = require("regsh.json")

local M = {}

local array_mt = json.array_mt

--- The null sentinel, equal to regsh.json.null and cjson.null.
M.null = core.null
assert(M.null == json.null, "YAML and JSON null sentinels differ")

--- libyaml's version, e.g. "0.2.5".
M.libyaml_version = core.libyaml_version

--- Mark a table as a sequence (the same function as regsh.json.array).
M.array = json.array

local function check_string(s, fname, argn, optional)
  if type(s) ~= "string" and not (optional and s == nil) then
    error(string.format("bad argument #%d to '%s' (string expected, got %s)",
                        argn or 1, fname, type(s)), 3)
  end
end

--- decode(str [, name]) -> value | nil, "EYAML: [name:]line:col: problem", "EYAML"
--- The stream must hold at most one document (none gives null).
function M.decode(str, name)
  check_string(str, "decode")
  check_string(name, "decode", 2, true)
  return core.decode(str, name, array_mt)
end

--- decode_all(str [, name]) -> array of documents | nil, msg, "EYAML"
function M.decode_all(str, name)
  check_string(str, "decode_all")
  check_string(name, "decode_all", 2, true)
  return core.decode_all(str, name, array_mt)
end

--- decode_file(path) -> value | nil, msg, code (ENOENT..., or EYAML naming path)
function M.decode_file(path)
  check_string(path, "decode_file")
  local data, err, code = require("regsh.fs").read_file(path)
  if not data then return nil, err, code end
  return core.decode(data, path, array_mt)
end

--- encode(value) -> YAML text; raises on functions, cycles, bad UTF-8.
function M.encode(value)
  local ok, text = pcall(core.encode, value, array_mt)
  if not ok then error(text, 2) end
  return text
end

return M
