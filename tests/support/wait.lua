-- tests/support/wait.lua: polling until something a process does shows up
-- (a file, a /proc entry), bounded, so a spec fails instead of hanging.
local M = {}

--- until_true(what, fn [, tries]) -> fn's first true result, polling every 50 ms
--- (1200 tries: a minute); raises "timed out waiting for WHAT" after.
function M.until_true(what, fn, tries)
  for _ = 1, tries or 1200 do
    local v = fn()
    if v then return v end
    regsh.sleep(0.05)
  end
  error("timed out waiting for " .. what, 2)
end

--- read_number(path) -> the number a file starts with, or nil.
function M.read_number(path)
  local f = io.open(path)
  local n = f and f:read("n")
  if f then f:close() end
  return n
end

--- find_process(text) -> the pid of a process whose command line (its
--- arguments joined by NULs) contains text, plain, or nil.
function M.find_process(text)
  local ls <close> = assert(io.popen("ls /proc"))
  for name in ls:lines() do
    local f = name:match("^%d+$") and io.open("/proc/" .. name .. "/cmdline", "rb")
    if f then
      local cmdline = f:read("a") or ""
      f:close()
      if cmdline:find(text, 1, true) then return math.tointeger(tonumber(name)) end
    end
  end
end

return M
