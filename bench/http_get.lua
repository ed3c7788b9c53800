-- bench/http_get.lua URL [COUNT [CONCURRENCY]]: COUNT GETs of URL through
-- regsh.http from CONCURRENCY tasks sharing one multi handle (so
-- connections are kept alive and reused). Prints the wall time in seconds.
-- Run by bench/http; checks every status so a broken run cannot look fast.
local http = require "regsh.http"
local async = require "regsh.async"

local url = assert(arg[1], "usage: http_get.lua URL [COUNT [CONCURRENCY]]")
local count = tonumber(arg[2]) or 2000
local concurrency = tonumber(arg[3]) or 8

local done, connections = 0, 0
local function worker()
  while done < count do
    done = done + 1
    local res = assert(http.get(url))
    assert(res.status == 200, res.status)
    connections = connections + res.new_connections
  end
end

local start = async.monotonic()
local tasks = {}
for i = 1, concurrency do tasks[i] = async.spawn(worker) end
async.wait(table.unpack(tasks))
local elapsed = async.monotonic() - start
print(string.format("%.4f %d", elapsed, connections))
