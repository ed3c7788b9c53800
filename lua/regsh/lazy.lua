-- regsh.lazy: a module that loads on first use. lazy "regsh.registry.copy"
-- stands for require "regsh.registry.copy" and requires it when a field is
-- first read, so a one-line command loads only the code it runs (neovim's
-- vim._defer_require has the same job). Fields are read through, never
-- copied: a module's later changes show.
local require = require

return function(name)
  local module
  return setmetatable({}, {
    __index = function(_, key)
      module = module or require(name)
      return module[key]
    end,
    __newindex = function(_, key, value)
      module = module or require(name)
      module[key] = value
    end,
    __name = "regsh.lazy " .. name,
  })
end
