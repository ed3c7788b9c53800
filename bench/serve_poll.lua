-- bench/serve_poll.lua: the named peer of bench/serve, a naive scheduler
-- that wakes every second and asks each timer whether an occurrence fell in
-- the last second (what a loop without "sleep until the next fire" does).
-- Usage: regsh bench/serve_poll.lua SECONDS IDLE_TIMERS OUT_FILE
-- Writes one line per fire of its minutely timer: the delay in seconds.
local seconds, idle, out = tonumber(arg[1]), tonumber(arg[2]), arg[3]
local cron = regsh.schedule.cron
local crons = {}
for i = 1, idle do crons[i] = assert(cron.parse("0 0 1 1 *")) end
local minutely = assert(cron.parse("* * * * *"))
crons[#crons + 1] = minutely
local f = assert(io.open(out, "w"))
local last = regsh.now()
local deadline = last + seconds
while regsh.now() < deadline do
  regsh.sleep(1)
  local now = regsh.now()
  for _, c in ipairs(crons) do
    local t = c:next(last)
    if t <= now and c == minutely then
      f:write(string.format("%.6f\n", now - t))
      f:flush()
    end
  end
  last = now
end
f:close()
