-- www_authenticate.lua: fuzz driver of regsh.registry.challenge (the
-- WWW-Authenticate headers of a 401) and what auth.lua does next with a
-- Bearer challenge (realm, service, scope into the token request's URL).
-- Never raises: garbage gives fewer challenges, each a lower-case scheme
-- with string parameters. Each line of the input is one header value.
local contract = require "contract"
local challenge = require "regsh.registry.challenge"
local url = require "regsh.registry.url"

return contract.driver(function(text)
  local values = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do values[#values + 1] = line end
  local all = contract.call("parse_all", challenge.parse_all, values)
  for _, c in ipairs(all) do
    contract.expect(type(c.scheme) == "string" and c.scheme == c.scheme:lower() and c.scheme ~= "",
      "bad scheme %s", contract.show(c.scheme))
    for k, v in pairs(c.params) do
      contract.expect(type(k) == "string" and k == k:lower() and type(v) == "string",
        "bad parameter %s=%s", contract.show(k), contract.show(v))
    end
  end
  local bearer = challenge.find(all, "bearer")
  if bearer and bearer.params.realm then
    local realm = bearer.params.realm
    local query = {{"service", bearer.params.service}}
    for s in (bearer.params.scope or ""):gmatch("%S+") do query[#query + 1] = {"scope", s} end
    contract.call("add_query", url.add_query, realm, url.query(query))
    contract.call("origin", url.origin, realm)
  end
end)
