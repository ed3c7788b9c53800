-- replay.lua: every seed of the Lua fuzz targets through its driver, in the
-- regsh binary (CTest fuzz-seeds), so the corpus's regression inputs stay
-- checked by the fast suite, without clang or libFuzzer. The C targets'
-- regressions are specs. Usage: regsh tests/fuzz/replay.lua [TARGET...]
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
local fs = require "regsh.fs"

local TARGETS = {"task_yaml", "template", "duration", "filter", "www_authenticate", "link",
  "image_ref", "manifest_json", "json"}
local targets = #arg > 0 and {...} or TARGETS

local failed, total = 0, 0
for _, target in ipairs(targets) do
  local driver = dofile(dir .. "/" .. target .. ".lua")
  local names = assert(fs.readdir(dir .. "/corpus/" .. target))
  table.sort(names)
  for _, name in ipairs(names) do
    local f = assert(io.open(dir .. "/corpus/" .. target .. "/" .. name, "rb"))
    local input = f:read("a")
    f:close()
    total = total + 1
    local ok, err = pcall(driver, input)
    if not ok then
      failed = failed + 1
      io.stderr:write(string.format("%s/%s: %s\n", target, name, tostring(err)))
    end
  end
end
print(string.format("replay: %d seeds of %d targets, %d failed", total, #targets, failed))
os.exit(failed == 0 and 0 or 1)
