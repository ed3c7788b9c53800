-- task_yaml.lua: fuzz driver of the whole ACR task file pipeline
-- (regsh.task.acr_yaml: comment lines, version, aliases, values, template,
-- lenient YAML decode, model.normalize; then lint, the plan's JSON and the
-- step order). An input holding a form feed is a values file, then the task
-- file. Every stage returns its result or nil, "ETASK|ETEMPLATE: ...";
-- nothing raises, and the order holds every step once.
local contract = require "contract"
local acr_yaml = require "regsh.task.acr_yaml"
local lint = require "regsh.task.lint"
local model = require "regsh.task.model"
local values = require "regsh.task.values"
local fs = require "regsh.fs"
local fixed = require "data"

local CODES = {ETASK = true, ETEMPLATE = true}

-- an alias `src:` names a file or URL: nothing outside the input is read
local ALIASES = "alias:\n  values:\n    greet: hello\n    img: busybox\n"
fs.read_file = function(path)
  if path:match("aliases%.ya?ml$") then return ALIASES end
  return nil, "ENOENT: " .. path .. ": no such file or directory", "ENOENT"
end
local function fetch(where)
  if where:match("aliases%.ya?ml$") then return ALIASES end
  return nil, "HTTP 404: not found"
end

return contract.driver(function(input)
  local text, vals = input, fixed.values
  local ff = input:find("\f", 1, true)
  if ff then
    text = input:sub(ff + 1)
    vals = contract.check("values.load_text", values.load_text, {ETASK = true},
      input:sub(1, ff - 1), "values.yaml")
    if vals == nil then return end
  end
  local opts = {name = "acb.yaml", run = fixed.run, values = vals, secrets = fixed.secrets,
    fetch = fetch, base_dir = "/nonexistent"}
  local result = contract.check("process", acr_yaml.process, CODES, text, opts)
  contract.check("lint", lint.check, CODES, text, opts)
  if result == nil then return end
  local task = result.task
  contract.call("to_json", model.to_json, task)
  local order = contract.call("order", model.order, task)
  contract.expect(#order == #task.steps, "order has %d of %d steps", #order, #task.steps)
end)
