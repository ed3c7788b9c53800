-- regsh.schedule.clock: the time `regsh serve` schedules by. The real one is
-- the wall clock with the loop's timers; REGSH_SERVE_CLOCK=START:SCALE (for
-- tests only) starts at START (epoch seconds) and runs SCALE times as fast.
local async = require "regsh.async"

local M = {}

--- real() -> clock: now() is the wall clock, sleep(s) the loop's timer.
function M.real()
  return {scale = 1, now = async.now, sleep = async.sleep}
end

--- scaled(start, scale [, monotonic]) -> clock: now() = start + (monotonic() -
--- t0) * scale; sleep(s) sleeps s / scale real seconds.
function M.scaled(start, scale, monotonic)
  monotonic = monotonic or async.monotonic
  local t0 = monotonic()
  return {
    scale = scale,
    now = function() return start + (monotonic() - t0) * scale end,
    sleep = function(seconds) async.sleep(seconds / scale) end,
  }
end

--- from_env(value) -> clock | nil, "EINVAL: ...": the real clock when value
--- is nil or empty, else the scaled one "START:SCALE" asks for.
function M.from_env(value)
  if value == nil or value == "" then return M.real() end
  local start, scale = value:match("^%s*(%d+%.?%d*)%s*:%s*(%d+%.?%d*)%s*$")
  start, scale = tonumber(start), tonumber(scale)
  if not start or not scale or scale <= 0 then
    return nil, "EINVAL: REGSH_SERVE_CLOCK=" .. value
      .. ": expected START:SCALE (epoch seconds, a speed factor > 0)", "EINVAL"
  end
  return M.scaled(start, scale)
end

return M
