-- regsh.task.source: where a task's text and values come from, one way for
-- `regsh run` (cli/run.lua) and for stored tasks (regsh.schedule.definition):
-- ACR's --cmd synthesis, the "version: v1.1.0" line /dev/null prepends, -f
-- inside a context, and the --values/--set/--set-secret merge.
local M = {}

--- is_dev_null(context) -> true when the context is /dev/null (any case).
function M.is_dev_null(context)
  return context ~= nil and context:lower() == "/dev/null"
end

--- read_local(path) -> text | fail: a local file, or stdin for "-".
function M.read_local(path)
  if path == "-" then return io.stdin:read("a") end
  local f, err = io.open(path, "rb")
  if not f then return nil, "ENOENT: " .. tostring(err), "ENOENT" end
  local text = f:read("a")
  f:close()
  return text
end

--- cmd_yaml(cmd [, timeout]) -> the one-step task az sends for --cmd.
function M.cmd_yaml(cmd, timeout)
  local text = "version: v1.1.0\nsteps: \n  - cmd: " .. cmd
    .. "\n    disableWorkingDirectoryOverride: true\n"
  if timeout then text = text .. "    timeout: " .. timeout .. "\n" end
  return text
end

--- with_version(text) -> text with ACR's "version: v1.1.0" line in front
--- (what az encodes for -f with a /dev/null context).
function M.with_version(text)
  return "version: v1.1.0\n" .. text
end

--- merged(sets, secret_keys, values_file, read) -> merged values, secret
--- strings | fail: the values file (read with read(path)) under the sets
--- (a map), as ACR merges them; secret_keys name the sets to mask.
function M.merged(sets, secret_keys, values_file, read)
  local values = require "regsh.task.values"
  local file_values = {}
  if values_file then
    local text, err, code = read(values_file)
    if not text then return nil, err, code end
    file_values, err, code = values.load_text(text, values_file)
    if not file_values then return nil, err, code end
  end
  local merged = values.merge(sets, file_values)
  return merged, values.secret_strings(merged, secret_keys)
end

--- values(spec, read) -> merged values, secret strings | fail. spec:
--- {values = file, set = {"k=v"}, set_secret = {"k=v"}}; read(path) reads
--- the values file. --set and --set-secret win over the file, as in ACR.
function M.values(spec, read)
  local sets, secret_keys = M.sets(spec.set, spec.set_secret)
  if not sets then return nil, secret_keys, "ETASK" end
  local secret_list = {}
  for k in pairs(secret_keys) do secret_list[#secret_list + 1] = k end
  return M.merged(sets, secret_list, spec.values, read)
end

--- sets(set, set_secret) -> map of values, set of the secret keys | fail:
--- the "k=v" items of --set and --set-secret (a later one wins).
function M.sets(set, set_secret)
  local values = require "regsh.task.values"
  local sets, secret_keys = {}, {}
  for _, list in ipairs{{set or {}, false}, {set_secret or {}, true}} do
    for _, item in ipairs(list[1]) do
      local k, v = values.parse_set(item)
      if not k then return nil, v, "ETASK" end
      sets[k] = v
      secret_keys[k] = list[2] or nil
    end
  end
  return sets, secret_keys
end

--- text(spec) -> text, name, read, context | fail: the task's text, its
--- file name, how to read files beside it, and the opened regsh.context (nil
--- for /dev/null: the caller closes it). spec: {encoded_task, cmd, timeout,
--- source (the context), file}.
function M.text(spec)
  local source = spec.source
  if spec.encoded_task then
    local text, err, code = require("regsh.task.values").decode_encoded(spec.encoded_task)
    if not text then return nil, err, code end
    return text, "encoded", M.read_local
  end
  if spec.cmd then return M.cmd_yaml(spec.cmd, spec.timeout), "cmd", M.read_local end
  if M.is_dev_null(source) then
    if not spec.file then
      return nil, "ETASK: with /dev/null as the context, give --cmd or -f FILE (or - for stdin)",
        "ETASK"
    end
    local text, err, code = M.read_local(spec.file)
    if not text then return nil, err, code end
    return M.with_version(text), spec.file, M.read_local
  end
  local file = spec.file or "acb.yaml"
  local ctx, err, code = require("regsh.context").open(source, {})
  if not ctx then return nil, err, code end
  local read = function(path) return ctx:read(path) end
  local text
  text, err, code = read(file)
  if not text then
    ctx:close()
    return nil, err, code
  end
  return text, file, read, ctx
end

return M
