-- template.lua: fuzz driver of regsh.task.template (the Go text/template
-- subset of task files). Any text renders to a string or fails with
-- "ETEMPLATE: fuzz:LINE: ..."; it never raises and never reports an
-- internal error (what template.lua calls a bug of its own).
local contract = require "contract"
local template = require "regsh.task.template"
local values = require "regsh.task.values"
local fixed = require "data"

local data = values.template_data(fixed.run, fixed.values, fixed.secrets)

return contract.driver(function(text)
  local out, err, code = contract.call("render", template.render, text, data, {name = "fuzz"})
  if contract.result("render", {ETEMPLATE = true}, out, err, code) == nil then
    contract.expect(err:find("^ETEMPLATE: fuzz:%d+: "), "no file:line in %s", contract.show(err))
    return
  end
  contract.expect(type(out) == "string", "render returned a %s", type(out))
end)
