-- link.lua: fuzz driver of the Link header of a paginated listing
-- (regsh.registry.url.parse_link) and how listing.lua follows it: the next
-- URL resolved against the page's URL, then its origin compared with the
-- registry's. Never raises; every relation maps to a string.
local contract = require "contract"
local url = require "regsh.registry.url"

local BASE = "https://registry.example:5000"
local PAGE = BASE .. "/v2/_catalog?n=100"

return contract.driver(function(text)
  local links = contract.call("parse_link", url.parse_link, text)
  for rel, target in pairs(links) do
    contract.expect(type(rel) == "string" and rel == rel:lower() and type(target) == "string",
      "bad link %s -> %s", contract.show(rel), contract.show(target))
  end
  if links.next then
    local next_url = contract.call("resolve", url.resolve, PAGE, links.next)
    contract.expect(type(next_url) == "string", "resolve gave %s", type(next_url))
    contract.call("origin", url.origin, next_url)
    -- a relative reference stays on the page's origin
    if not links.next:find("^%a[%w+.-]*:") and not links.next:find("^//") then
      contract.expect(url.origin(next_url) == url.origin(BASE), "%s left the origin: %s",
        contract.show(links.next), contract.show(next_url))
    end
  end
end)
