-- data.lua: the template data the template and task_yaml fuzz drivers render
-- with (fixed, so a crash reproduces): .Run, .Values of every type, .Secrets.
local json = require "regsh.json"

local run = {ID = "ca1", Registry = "myreg.azurecr.io", RegistryName = "myreg",
  Date = "20261130-101500z", SharedVolume = "/acb/home", OS = "linux", Architecture = "amd64",
  Commit = "ABC123", Branch = "main", TaskName = "fuzz"}

return {
  run = run,
  values = {env = "prod", n = 3, f = 1.5, list = json.array({"a", "b", "c"}), m = {z = 1, a = 2},
    ["a.b"] = "dotted", empty = "", zero = 0, yes = true, null = json.null},
  secrets = {sampleSecret = "s3cr3t"},
}
