-- tests/support/stand_in.lua: a scripted stand-in for regsh.http, for the
-- paths a healthy registry never takes. Routes are keyed "METHOD URL"; a
-- route is a function(req) -> response, or a list of {status, headers, body}
-- (or {fail = "CODE: text"}) answered in turn, the last one repeating.
local M = {}

--- A response table shaped like regsh.http's.
function M.response(status, headers, body)
  local h, list = {}, {}
  for name, value in pairs(headers or {}) do
    h[name:lower()] = value
    list[#list + 1] = {name = name, value = value}
  end
  setmetatable(h, {__index = function(t, k) return rawget(t, k:lower()) end})
  return {status = status, headers = h, header_list = list, body = body or "", time = 0}
end

--- fake (to put in client.transport.http), requests (every request, in order).
function M.new(routes)
  local requests, served = {}, {}
  local fake = {
    request = function(req)
      requests[#requests + 1] = req
      local key = req.method .. " " .. req.url
      local route = routes[key]
      if route == nil then return M.response(404, {}, "no route for " .. key) end
      if type(route) == "function" then return route(req) end
      served[key] = (served[key] or 0) + 1
      local r = route[math.min(served[key], #route)]
      if r.fail then return nil, r.fail, r.fail:match("^(%u+)") end
      local res = M.response(r[1], r[2], r[3])
      res.url = req.url
      return res
    end,
    header_values = function(res, name)
      local out = {}
      for _, h in ipairs(res.header_list) do
        if h.name:lower() == name:lower() then out[#out + 1] = h.value end
      end
      return out
    end,
  }
  return fake, requests
end

return M
