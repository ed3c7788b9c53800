-- bench/purge_hand.lua HOST DAYS [CONCURRENCY [DRY]]: peer (a) of bench/purge,
-- the least a hand-written purge must do on a registry without tag timestamps:
-- list the catalog and every repository's tags, then per tag GET the
-- manifest, GET its config blob and DELETE the manifest by digest when the
-- config's `created` is more than DAYS days old. Plain regsh.http (not
-- regsh.registry), CONCURRENCY tasks (default 8) over keep-alive connections.
-- DRY = "dry": decide but do not delete. Prints
--   "<seconds> <tags> <deleted> <connections opened>"
-- Every request must answer as expected, so a broken run cannot look fast.
local http, json, time = regsh.http, regsh.json, regsh.time
local usage = "usage: purge_hand.lua HOST DAYS [CONCURRENCY [dry]]"
local host = assert(arg[1], usage)
local days = assert(tonumber(arg[2]), usage)
local concurrency = tonumber(arg[3]) or 8
local dry = arg[4] == "dry"
local base = "http://" .. host .. "/v2/"
local ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
  .. "application/vnd.docker.distribution.manifest.v2+json, "
  .. "application/vnd.docker.distribution.manifest.list.v2+json"

local connections = 0
local function request(method, url, headers, want)
  local res = assert(http.request{method = method, url = url, headers = headers})
  connections = connections + res.new_connections
  assert(want[res.status], method .. " " .. url .. ": " .. res.status)
  return res
end

-- every page of a listing: the path's JSON field `key`, following Link
local function list(path, key)
  local out, next_url = {}, base .. path
  while next_url do
    local res = request("GET", next_url, nil, {[200] = true})
    for _, v in ipairs(json.decode(res.body)[key] or {}) do out[#out + 1] = v end
    local link = res.headers.link
    next_url = link and ("http://" .. host .. link:match("^<([^>]+)>"))
  end
  return out
end

local start = regsh.async.monotonic()
local cutoff = os.time() - days * 86400
local jobs, deleted = {}, 0
for _, repo in ipairs(list("_catalog?n=1000", "repositories")) do
  for _, tag in ipairs(list(repo .. "/tags/list?n=1000", "tags")) do
    jobs[#jobs + 1] = function()
      local res = request("GET", base .. repo .. "/manifests/" .. tag, {Accept = ACCEPT},
        {[200] = true, [404] = true})
      if res.status == 404 then return end    -- went with a manifest another tag deleted
      local digest = assert(res.headers["docker-content-digest"], "no digest")
      local config = json.decode(res.body).config
      if not config then return end           -- an index: out of this sketch's reach
      res = request("GET", base .. repo .. "/blobs/" .. config.digest, nil, {[200] = true})
      local created = json.decode(res.body).created
      local t = created and time.parse_rfc3339(created)
      if t and t < cutoff then
        if not dry then
          request("DELETE", base .. repo .. "/manifests/" .. digest, nil, {[202] = true, [404] = true})
        end
        deleted = deleted + 1
      end
    end
  end
end
regsh.gather(jobs, {concurrency = concurrency})
print(string.format("%.4f %d %d %d", regsh.async.monotonic() - start, #jobs, deleted, connections))
