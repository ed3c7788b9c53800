-- regsh.registry.flight: one call in flight per key. Tasks that ask for the
-- same thing at once (the /v2/ ping of a new client, a token for one scope)
-- wait for the first one's answer instead of each asking the server, which a
-- rate-limited token service would refuse. Used by transport.lua and auth.lua.
local async = require "regsh.async"

local M = {}

local unpack = table.unpack

--- run(flights, key, fn) -> fn()'s results. flights is the owner's table of
--- calls in flight. While fn runs for key, other callers with key wait and
--- get the same results (a failure too). If fn raises (the first caller was
--- cancelled), the error goes to that caller only and a waiter tries again.
function M.run(flights, key, fn)
  while true do
    local flight = flights[key]
    if not flight then break end
    flight.lock:acquire()
    flight.lock:release()
    if flight.ok then return unpack(flight.result, 1, flight.result.n) end
  end
  local flight = {lock = async.semaphore(1)}
  flight.lock:acquire()
  flights[key] = flight
  local result = table.pack(pcall(fn))
  flights[key] = nil
  flight.ok = result[1]
  flight.result = table.pack(select(2, unpack(result, 1, result.n)))
  flight.lock:release()
  if not flight.ok then error(flight.result[1], 0) end
  return unpack(flight.result, 1, flight.result.n)
end

return M
