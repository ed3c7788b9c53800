-- regsh: the facade scripts see as the global `regsh`. Submodules load on
-- first use, so a script pays only for what it touches (libcurl above all).
local M = {}

local submodules = {
  registry = "regsh.registry", http = "regsh.http", json = "regsh.json",
  yaml = "regsh.yaml", proc = "regsh.proc", async = "regsh.async",
  cli = "regsh.cli", log = "regsh.log", digest = "regsh.digest", errors = "regsh.errors",
  regex = "regsh.regex", fs = "regsh.fs", time = "regsh.time", store = "regsh.store",
  purge = "regsh.purge", task = "regsh.task", context = "regsh.context",
  schedule = "regsh.schedule", httpd = "regsh.httpd",
}

-- scheduler functions at the top level: regsh.spawn, regsh.sleep, ...
local from_async = {
  spawn = true, sleep = true, wait = true, gather = true, now = true,
  monotonic = true, on_signal = true, running = true, cancelled = true,
  semaphore = true,
}

M.version = require("regsh.core.host").version

return setmetatable(M, {
  __index = function(t, key)
    local name = submodules[key]
    if name then
      local mod = require(name)
      rawset(t, key, mod)
      return mod
    end
    if from_async[key] then
      local value = require("regsh.async")[key]
      rawset(t, key, value)
      return value
    end
  end,
})
