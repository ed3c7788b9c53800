-- regsh.registry.url: the URL work a registry client needs: percent-encoding,
-- query strings and forms, resolving the relative URLs registries hand out
-- (Link pagination, upload Location) and parsing RFC 8288 Link headers.
local M = {}

--- Percent-encode s for a query value or form field (RFC 3986 unreserved kept).
function M.escape(s)
  return (tostring(s):gsub("[^%w%-._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

--- Decode %XX escapes (and "+" as space when form is true).
function M.unescape(s, form)
  if form then s = s:gsub("+", " ") end
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- Encode an ordered list of {name, value} pairs as "a=1&b=2"; nil values are skipped.
function M.query(pairs_list)
  local out = {}
  for _, pair in ipairs(pairs_list) do
    if pair[2] ~= nil then out[#out + 1] = M.escape(pair[1]) .. "=" .. M.escape(pair[2]) end
  end
  return table.concat(out, "&")
end

--- Append query text to a URL that may already have a query.
function M.add_query(url, query)
  if query == nil or query == "" then return url end
  local sep = url:find("?", 1, true) and "&" or "?"
  if url:sub(-1) == "?" or url:sub(-1) == "&" then sep = "" end
  return url .. sep .. query
end

--- Split an absolute URL into scheme, authority ("host:port") and the rest ("/path?query").
function M.split(url)
  local scheme, authority, rest = url:match("^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  if not scheme then return nil end
  if rest == "" then rest = "/" end
  return scheme:lower(), authority, rest
end

--- "scheme://authority" of an absolute URL, or nil.
function M.origin(url)
  local scheme, authority = M.split(url)
  if not scheme then return nil end
  return scheme .. "://" .. authority:lower()
end

--- Resolve a reference from a response (absolute, "//host/..", "/path", "?q",
--- "rel/path") against the URL it came with.
function M.resolve(base, reference)
  if reference:match("^%a[%w+.-]*://") then return reference end
  local scheme, authority, rest = M.split(base)
  if not scheme then return reference end
  if reference:sub(1, 2) == "//" then return scheme .. ":" .. reference end
  if reference:sub(1, 1) == "/" then return scheme .. "://" .. authority .. reference end
  local path = rest:match("^([^?#]*)")
  if reference:sub(1, 1) == "?" then return scheme .. "://" .. authority .. path .. reference end
  local dir = path:match("^(.*/)") or "/"
  return scheme .. "://" .. authority .. dir .. reference
end

-- Parameters of one link-value: '; rel="next"; type=x'
local function link_params(text)
  local params = {}
  for name, value in text:gmatch(';%s*([%w%-_*]+)%s*=%s*("[^"]*"?)') do
    params[name:lower()] = value:match('^"(.-)"?$')
  end
  for name, value in text:gmatch(';%s*([%w%-_*]+)%s*=%s*([^;,"%s][^;,%s]*)') do
    params[name:lower()] = params[name:lower()] or value
  end
  return params
end

--- Parse Link header values ('<url>; rel="next", <url2>; rel=prev') into
--- {rel -> url}; rel may list several space-separated relations. The URLs are
--- returned as written (resolve them against the request URL).
function M.parse_link(header)
  local links = {}
  if type(header) ~= "string" then return links end
  local pos = 1
  while true do
    local s, e, target = header:find("<([^>]*)>", pos)
    if not s then break end
    local next_start = header:find("<", e + 1, true) or (#header + 1)
    local params = link_params(header:sub(e + 1, next_start - 1))
    for rel in (params.rel or ""):gmatch("%S+") do
      rel = rel:lower()
      if links[rel] == nil then links[rel] = target end
    end
    pos = next_start
  end
  return links
end

return M
