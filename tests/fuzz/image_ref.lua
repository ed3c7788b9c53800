-- image_ref.lua: fuzz driver of regsh.registry.ref: image references,
-- repository-local references and registry hosts. Each returns a table or
-- nil, "EREF: ...", "EREF"; a parsed reference formats to a string that
-- parses back to the same parts.
local contract = require "contract"
local ref = require "regsh.registry.ref"

local EREF = {EREF = true}

local function same(a, b)
  return a.registry == b.registry and a.repository == b.repository and a.tag == b.tag
    and a.digest == b.digest
end

return contract.driver(function(text)
  local r = contract.check("parse", ref.parse, EREF, text)
  if r then
    contract.expect(ref.is_repository(r.repository), "parse(%s): repository %s",
      contract.show(text), contract.show(r.repository))
    local again = contract.check("parse(string)", ref.parse, EREF, r.string)
    contract.expect(again and same(r, again), "parse(%s).string = %s parses differently",
      contract.show(text), contract.show(r.string))
    contract.call("local_string", r.local_string, r)
  end
  local l = contract.check("parse_local", ref.parse_local, EREF, text, "127.0.0.1:5000")
  if l then
    local again = contract.check("parse_local(string)", ref.parse_local, EREF, l:local_string(),
      "127.0.0.1:5000")
    contract.expect(again and same(l, again), "parse_local(%s) does not round-trip",
      contract.show(text))
  end
  local h = contract.check("parse_host", ref.parse_host, EREF, text)
  if h then
    contract.expect(ref.is_host(h.host), "parse_host(%s).host = %s", contract.show(text),
      contract.show(h.host))
    contract.call("is_loopback", ref.is_loopback, h.host)
  end
  contract.call("is_loopback", ref.is_loopback, text)
  contract.call("is_digest", ref.is_digest, text)
  contract.call("is_tag", ref.is_tag, text)
end)
