-- regsh.registry.retry: when to try a request again and how long to wait:
-- exponential backoff with jitter, Retry-After (seconds or an HTTP date)
-- honoured, all bounded. Pure policy: the clock, the dice and the sleep are
-- injectable so the specs need not wait.
local errors = require "regsh.errors"

local M = {}

-- 408 and 429 say "later"; 500/502/503/504 are a registry or its proxy in trouble.
M.RETRY_STATUS = {
  [408] = true, [429] = true, [500] = true, [502] = true, [503] = true, [504] = true,
}

M.DEFAULTS = {
  retries = 4,          -- attempts after the first
  backoff = 0.5,        -- first delay, seconds; doubles each attempt
  max_delay = 20,       -- cap of one backoff delay
  max_retry_after = 60, -- cap of a Retry-After the registry asks for
}

--- Seconds since the epoch of an HTTP date (regsh.time.parse_http_date), or nil.
function M.parse_http_date(s)
  if type(s) ~= "string" then return nil end
  return (require("regsh.time").parse_http_date(s))
end

--- Seconds to wait from a Retry-After value ("120" or an HTTP date), given
--- now (epoch seconds); nil when absent or unreadable. Never negative.
function M.parse_retry_after(value, now)
  if type(value) ~= "string" then return nil end
  value = value:match("^%s*(.-)%s*$")
  local seconds = value:match("^%d+$")
  if seconds then return tonumber(seconds) end
  local at = M.parse_http_date(value)
  if not at then return nil end
  return math.max(0, at - (now or os.time()))
end

local Policy = {}
Policy.__index = Policy
Policy.__name = "regsh.registry.retry_policy"

--- A policy. opts: retries, backoff, max_delay, max_retry_after (see DEFAULTS),
--- random = function() -> [0,1) (jitter), sleep = function(seconds), now = function() -> epoch.
function M.new(opts)
  opts = opts or {}
  local policy = setmetatable({}, Policy)
  for key, default in pairs(M.DEFAULTS) do
    local value = opts[key]
    if value == nil then value = default end
    policy[key] = value
  end
  policy.random = opts.random or math.random
  policy.sleep = opts.sleep or function(seconds) require("regsh.async").sleep(seconds) end
  policy.now = opts.now or os.time
  return policy
end

--- Whether another attempt is allowed after `attempt` attempts have failed.
function Policy:allows(attempt)
  return attempt <= self.retries
end

--- Whether a response status or a transport error code is worth retrying.
function Policy:retryable(status_or_code)
  if type(status_or_code) == "number" then return M.RETRY_STATUS[status_or_code] == true end
  -- transport failures: the transient codes of regsh.errors (the peer went away
  -- or was slow); not EHOST, ETLS, EMFILE or ETOOBIG, which do not fix themselves
  return errors.retryable(status_or_code)
end

--- Seconds to wait before attempt number `attempt` + 1 (attempt counts from 1).
--- retry_after (a header value) wins over backoff when the registry sends it.
function Policy:delay(attempt, retry_after)
  local asked = M.parse_retry_after(retry_after, self.now())
  if asked then return math.min(asked, self.max_retry_after) end
  local full = math.min(self.backoff * 2 ^ (attempt - 1), self.max_delay)
  -- "equal jitter": half fixed, half random, so clients spread out yet still back off
  return full / 2 + self.random() * full / 2
end

--- Wait before the next attempt; returns the seconds waited.
function Policy:wait(attempt, retry_after)
  local seconds = self:delay(attempt, retry_after)
  if seconds > 0 then self.sleep(seconds) end
  return seconds
end

return M
