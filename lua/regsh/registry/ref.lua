-- regsh.registry.ref: image references ("host:port/repo/name:tag@sha256:...")
-- parsed and normalised with Docker's rules, and registry host names (which
-- are loopback, which is Docker Hub). Pure string work, no I/O.
local M = {}

M.DOCKER_HUB = "docker.io"
-- Docker Hub's API lives on another host than its name.
M.DOCKER_HUB_API = "registry-1.docker.io"
-- the key `docker login` uses for Docker Hub in config.json
M.DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"

local hub_aliases = {
  ["docker.io"] = true, ["index.docker.io"] = true, ["registry-1.docker.io"] = true,
  ["registry.hub.docker.com"] = true,
}

local digest_lengths = {sha256 = 64, sha512 = 128}

local function fail(input, problem)
  return nil, string.format("EREF: invalid reference '%s': %s", tostring(input), problem), "EREF"
end

--- Whether s is a digest this client can verify ("sha256:<64 lower-case hex>", sha512).
function M.is_digest(s)
  if type(s) ~= "string" then return false end
  local algorithm, hex = s:match("^(%w+):(%x+)$")
  return algorithm ~= nil and digest_lengths[algorithm] == #hex and not hex:find("[A-F]")
end

-- A tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
function M.is_tag(s)
  return type(s) == "string" and #s <= 128 and s:match("^[%w_][%w_.%-]*$") ~= nil
end

-- One path component: lower-case alphanumerics joined by ".", "_", "__" or runs of "-".
local separators = {["."] = true, ["_"] = true, ["__"] = true}
local function valid_component(c)
  if not c:match("^[a-z0-9._%-]+$") then return false end
  local shape = c:gsub("[a-z0-9]+", "a")  -- "a.a__a-a": only separators remain between a's
  if not shape:match("^a") or not shape:match("a$") then return false end
  for sep in shape:gmatch("[^a]+") do
    if not separators[sep] and not sep:match("^%-+$") then return false end
  end
  return true
end

--- Whether s is a valid repository name ("library/busybox", "a/b/c").
function M.is_repository(s)
  if type(s) ~= "string" or s == "" or #s > 255 then return false end
  for component in (s .. "/"):gmatch("(.-)/") do
    if not valid_component(component) then return false end
  end
  return true
end

--- Whether a host (with optional port) looks like a registry host name.
function M.is_host(s)
  if type(s) ~= "string" or s == "" then return false end
  local ipv6 = s:match("^%[([%x:%.]+)%]$") or s:match("^%[([%x:%.]+)%]:%d+$")
  if ipv6 then return true end
  local name, port = s:match("^([^:]+):(%d+)$")
  name = name or s
  if port and (tonumber(port) < 1 or tonumber(port) > 65535) then return false end
  return name:match("^[%w][%w.%-]*$") ~= nil and not name:find("%.%.") and not name:find("%.$")
end

-- An IPv4 address as inet_pton(AF_INET) reads it: four decimal octets
-- 0-255 without leading zeros. Returns the octets, or nil.
local function ipv4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  local octets = {a, b, c, d}
  for i, o in ipairs(octets) do
    if #o > 3 or (#o > 1 and o:sub(1, 1) == "0") or tonumber(o) > 255 then return nil end
    octets[i] = tonumber(o)
  end
  return octets
end

-- An IPv6 address as inet_pton(AF_INET6) reads it (groups of 1-4 hex
-- digits, one "::" at most, an IPv4 tail): its eight 16-bit groups, or nil.
local function ipv6(s)
  local head, tail = s, nil
  local double = s:find("::", 1, true)
  if double then
    head, tail = s:sub(1, double - 1), s:sub(double + 2)
    if tail:find("::", 1, true) then return nil end
  end
  local function groups(part, last)
    local out = {}
    if part == "" then return out end
    local fields = {}
    for f in (part .. ":"):gmatch("([^:]*):") do fields[#fields + 1] = f end
    for i, f in ipairs(fields) do
      local v4 = last and i == #fields and ipv4(f)
      if v4 then
        out[#out + 1] = v4[1] * 256 + v4[2]
        out[#out + 1] = v4[3] * 256 + v4[4]
      elseif f:match("^%x%x?%x?%x?$") then
        out[#out + 1] = tonumber(f, 16)
      else
        return nil
      end
    end
    return out
  end
  local left = groups(head, tail == nil)
  local right = tail and groups(tail, true) or {}
  if not left or not right then return nil end
  local missing = 8 - #left - #right
  if (double and missing < 1) or (not double and missing ~= 0) then return nil end
  local all = {}
  for _, g in ipairs(left) do all[#all + 1] = g end
  for _ = 1, missing do all[#all + 1] = 0 end
  for _, g in ipairs(right) do all[#all + 1] = g end
  return all
end

-- The address part of "name", "name:port", "[v6]" or "[v6]:port"; a bare
-- name with several colons is an IPv6 address without a port.
local function host_name(host)
  local v6 = host:match("^%[([^%]]+)%]$") or host:match("^%[([^%]]+)%]:%d+$")
  if v6 then return v6, true end
  if host:find("[%[%]]") then return nil end
  local _, colons = host:gsub(":", "")
  if colons > 1 then return host, true end
  return (host:match("^([^:]*)") or host), false
end

--- Whether a host name ("x.azurecr.io", with or without a port) is an Azure
--- Container Registry's.
function M.is_acr_host(host)
  host = (host or ""):lower():gsub(":%d+$", "")
  return host:match("%.azurecr%.io$") ~= nil or host:match("%.azurecr%.cn$") ~= nil
    or host:match("%.azurecr%.us$") ~= nil
end

--- Whether host ("127.0.0.1:5000", "localhost", "[::1]:5000") is on this
--- machine: those are the only hosts spoken to over plain HTTP without
--- `insecure`. The address is parsed as inet_pton would: 127.0.0.0/8, ::1 in
--- any spelling, ::ffff:127.x.x.x (IPv4-mapped), or the name localhost
--- (which curl itself resolves to loopback). Anything else goes to DNS and
--- is not loopback, whatever it looks like (127.08.0.1, app.localhost).
function M.is_loopback(host)
  if type(host) ~= "string" then return false end
  local name, bracketed = host_name(host:lower())
  if not name then return false end
  if bracketed then
    local g = ipv6(name)
    if not g then return false end
    for i = 1, 5 do if g[i] ~= 0 then return false end end
    if g[6] == 0 then return g[7] == 0 and g[8] == 1 end
    return g[6] == 0xffff and g[7] >> 8 == 127
  end
  if name == "localhost" then return true end
  local v4 = ipv4(name)
  return v4 ~= nil and v4[1] == 127
end

--- The canonical name of a registry host: Docker Hub's aliases become "docker.io".
function M.normalize_host(host)
  local lower = host:lower()
  if hub_aliases[lower] then return M.DOCKER_HUB end
  return host
end

--- Whether a host is Docker Hub (under any of its names).
function M.is_docker_hub(host)
  return hub_aliases[(host or ""):lower()] == true
end

-- Docker's rule: the first component is a registry host when it has a "." or
-- a ":" or is "localhost" (and something follows it); otherwise Docker Hub.
local function looks_like_host(component)
  return component:find("[.:]") ~= nil or component == "localhost" or component:match("^%[") ~= nil
end

-- Split "name[:tag][@digest]" where name has no registry part.
local function split_name(input, rest)
  local name, digest = rest, nil
  local at = rest:find("@", 1, true)
  if at then
    name, digest = rest:sub(1, at - 1), rest:sub(at + 1)
    if not M.is_digest(digest) then
      return fail(input, "digest '" .. digest .. "' is not sha256:<64 hex> or sha512:<128 hex>")
    end
  end
  local tag
  local last_slash = name:match(".*()/") or 0
  local colon = name:find(":", last_slash + 1, true)
  if colon then
    name, tag = name:sub(1, colon - 1), name:sub(colon + 1)
    if not M.is_tag(tag) then
      return fail(input, "tag '" .. tag .. "' must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
    end
  end
  if name == "" then return fail(input, "repository name is empty") end
  if name:find("%u") then return fail(input, "repository name must be lower-case") end
  if not M.is_repository(name) then
    return fail(input, "repository '" .. name .. "' has invalid characters or separators")
  end
  return {repository = name, tag = tag, digest = digest}
end

--- Format a reference from its parts (registry may be nil for a repository-local one).
function M.format(parts)
  local s = parts.repository
  if parts.registry then s = parts.registry .. "/" .. s end
  if parts.tag then s = s .. ":" .. parts.tag end
  if parts.digest then s = s .. "@" .. parts.digest end
  return s
end

local Reference = {}
Reference.__index = Reference
Reference.__name = "regsh.reference"
function Reference.__tostring(r) return r.string end

--- The reference as a repository-local string for a client call ("repo:tag" or "repo@digest").
function Reference:local_string()
  return M.format({repository = self.repository, tag = self.tag, digest = self.digest})
end

--- The tag or, failing that, the digest: what the manifests endpoint takes.
function Reference:ref()
  return self.digest or self.tag
end

local function finish(parts, default_tag)
  if default_tag and not parts.tag and not parts.digest then parts.tag = "latest" end
  parts.string = M.format(parts)
  return setmetatable(parts, Reference)
end

--- Parse a full image reference with Docker's rules:
--- "busybox" -> docker.io/library/busybox:latest; "127.0.0.1:5000/a/b:v1";
--- "host/x@sha256:<hex>"; "host/x:tag@sha256:<hex>".
--- Returns {registry, repository, tag, digest, string} | nil, "EREF: ...", "EREF".
--- opts.default_tag = false leaves tag nil when none is written.
function M.parse(input, opts)
  if type(input) ~= "string" then return fail(input, "expected a string, got " .. type(input)) end
  if input == "" then return fail(input, "empty") end
  if input:find("[%s%c]") then return fail(input, "contains white space or control characters") end
  if input:match("^%a[%w+.-]*://") then
    return fail(input, "a reference has no scheme (write HOST/REPO:TAG)")
  end
  if #input > 4096 then return fail(input:sub(1, 64) .. "...", "longer than 4096 characters") end
  local first, rest = input:match("^([^/]+)/(.+)$")
  local registry
  if first and looks_like_host(first) then
    if not M.is_host(first) then
      return fail(input, "registry host '" .. first .. "' is malformed")
    end
    registry = M.normalize_host(first)
  else
    registry, rest = M.DOCKER_HUB, input
  end
  local parts, err, code = split_name(input, rest)
  if not parts then return nil, err, code end
  parts.registry = registry
  if registry == M.DOCKER_HUB and not parts.repository:find("/", 1, true) then
    parts.repository = "library/" .. parts.repository
    -- the name as written fits, but not once Docker Hub's prefix is added
    if #parts.repository > 255 then
      return fail(input, "repository 'library/" .. rest:sub(1, 40)
        .. "...' is longer than 255 characters")
    end
  end
  return finish(parts, not (opts and opts.default_tag == false))
end

--- Parse a reference inside a known registry ("repo:tag", "a/b@sha256:..."):
--- the first component is never a host. registry is set to the given host.
--- A missing tag stays nil unless default_tag is true ("latest" then).
function M.parse_local(input, registry, default_tag)
  if type(input) ~= "string" or input == "" then
    return fail(input, "expected a non-empty repository reference")
  end
  if input:find("[%s%c]") then return fail(input, "contains white space or control characters") end
  local parts, err, code = split_name(input, input)
  if not parts then return nil, err, code end
  parts.registry = registry
  return finish(parts, default_tag)
end

--- Parse the host argument of open(): "127.0.0.1:5000", "https://x.azurecr.io",
--- "docker.io". Returns {host = "canonical host", scheme = "https"|"http"|nil,
--- api_host = where requests go} | nil, "EREF: ...", "EREF".
function M.parse_host(input)
  if type(input) ~= "string" or input == "" then
    return nil, "EREF: invalid registry host '" .. tostring(input) .. "'", "EREF"
  end
  local scheme, rest = input:match("^(%a[%w+.-]*)://(.*)$")
  if scheme then
    scheme = scheme:lower()
    if scheme ~= "http" and scheme ~= "https" then
      return nil, "EREF: invalid registry host '" .. input .. "': scheme must be http or https",
        "EREF"
    end
  else
    rest = input
  end
  rest = rest:gsub("/+$", "")
  if rest:find("/", 1, true) then
    -- a pasted "https://index.docker.io/v1/" or "host/v2": keep the host only
    rest = rest:match("^([^/]+)")
  end
  if not M.is_host(rest) then
    return nil, "EREF: invalid registry host '" .. input .. "'", "EREF"
  end
  local host = M.normalize_host(rest)
  local api_host = host == M.DOCKER_HUB and M.DOCKER_HUB_API or host
  return {host = host, scheme = scheme, api_host = api_host}
end

return M
