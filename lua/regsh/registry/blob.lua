-- regsh.registry.blob: blobs (layers, configs): HEAD, GET with the digest
-- verified (following storage redirects without our credentials), upload
-- (monolithic, or chunked with PATCH), cross-repository mount, and the
-- streamed copy of a blob from one registry to another (GET into PATCHes).
-- Its functions take the internal layer (layer.lua); writes go through
-- layer:write, the dry-run gate.
local digest = require "regsh.digest"
local names = require "regsh.registry.names"
local url = require "regsh.registry.url"

local M = {}

local REDIRECTS = {[301] = true, [302] = true, [303] = true, [307] = true, [308] = true}
local MAX_REDIRECTS = 5

--- HEAD a blob: {digest, size} | fail (ENOTFOUND when absent).
function M.head(layer, repository, blob_digest)
  local what = names.display(layer.host, repository, blob_digest)
  local res, err, code = layer.transport:request({method = "HEAD", what = what,
    path = "/v2/" .. repository .. "/blobs/" .. blob_digest,
    scopes = {names.scope(repository, "pull")}})
  if not res then return nil, err, code end
  if REDIRECTS[res.status] then  -- a HEAD answered by storage: it exists
    return {digest = blob_digest, size = tonumber(res.headers["content-length"])}
  end
  if res.status ~= 200 then return layer.transport:status_error(res, what, "blob") end
  return {digest = blob_digest, size = tonumber(res.headers["content-length"])}
end

-- GET a blob, following redirects to storage (where the transport sends no
-- credentials): the last response | fail. opts: output, on_data with
-- on_attempt. A big blob on a slow link takes what it takes: only a stall
-- (the client's stall timeout) or the caller's deadline stops it.
local function fetch(layer, repository, blob_digest, opts)
  local what = names.display(layer.host, repository, blob_digest)
  local target = "/v2/" .. repository .. "/blobs/" .. blob_digest
  local res, err, code
  for _ = 0, MAX_REDIRECTS do
    res, err, code = layer.transport:request({method = "GET", url = target, what = what,
      scopes = {names.scope(repository, "pull")}, output = opts.output,
      on_data = opts.on_data, on_attempt = opts.on_attempt})
    if not res then return nil, err, code end
    local location = res.headers.location
    if not (REDIRECTS[res.status] and location) then break end
    target = url.resolve(res.url, location)
  end
  return res
end

--- GET a blob, into memory or into opts.output (a path); its digest is checked.
function M.get(layer, repository, blob_digest, opts)
  opts = opts or {}
  local what = names.display(layer.host, repository, blob_digest)
  local res, err, code = fetch(layer, repository, blob_digest, opts)
  if not res then return nil, err, code end
  if res.status ~= 200 then
    if opts.output then os.remove(opts.output) end
    return layer.transport:status_error(res, what, "blob")
  end
  local algorithm = blob_digest:match("^(%w+):")
  if opts.output then
    local actual, size_or_err = digest.file(opts.output, algorithm)
    if not actual then return layer.transport:fail("EIO", what .. ": " .. tostring(size_or_err)) end
    if actual ~= blob_digest then
      os.remove(opts.output)
      return layer.transport:fail("EDIGEST",
        string.format("%s: the registry sent content with digest %s", what, actual))
    end
    return true
  end
  local actual = digest.string(res.body, algorithm)
  if actual ~= blob_digest then
    return layer.transport:fail("EDIGEST",
      string.format("%s: the registry sent content with digest %s", what, actual))
  end
  return res.body
end

-- The data to upload as a source of chunks: a string, or a file {path=}.
local function open_source(data)
  if type(data) == "string" then
    return {size = #data, digest = digest.string(data),
            read = function(offset, length) return data:sub(offset + 1, offset + length) end,
            all = function() return data end, close = function() end}
  end
  local d, size = digest.file(data.path)
  if not d then return nil, size end
  local f, err = io.open(data.path, "rb")
  if not f then return nil, err end
  return {size = size, digest = d,
          read = function(offset, length)
            f:seek("set", offset)
            return f:read(length) or ""
          end,
          all = function()
            f:seek("set", 0)
            return f:read("a")
          end,
          close = function() f:close() end}
end

local function next_location(res, previous)
  local location = res.headers.location
  if not location or location == "" then return previous end
  return url.resolve(res.url, location)
end

-- PATCH one chunk of an upload at offset: the next location | fail.
local function patch(layer, location, chunk, offset, what, scopes)
  local res, err, code = layer:write({method = "PATCH", url = location, scopes = scopes,
    what = what, body = chunk, write = "upload a chunk of " .. what,
    headers = {["Content-Type"] = "application/octet-stream",
               ["Content-Range"] = offset .. "-" .. (offset + #chunk - 1)}})
  if not res then return nil, err, code end
  if res.status ~= 202 then return layer.transport:status_error(res, what, "upload chunk of") end
  return next_location(res, location)
end

local function upload_chunks(layer, source, location, chunk_size, what, scopes)
  local offset = 0
  while offset < source.size do
    local chunk = source.read(offset, chunk_size)
    local err, code
    location, err, code = patch(layer, location, chunk, offset, what, scopes)
    if not location then return nil, err, code end
    offset = offset + #chunk
  end
  return location
end

-- POST a new upload session: its location, and the least chunk the
-- registry takes (OCI-Chunk-Min-Length) | fail.
local function open_session(layer, repository, what, scopes, description)
  local res, err, code = layer:write({method = "POST", scopes = scopes, what = what,
    path = "/v2/" .. repository .. "/blobs/uploads/", write = description})
  if not res then return nil, err, code end
  if res.status ~= 202 then return layer.transport:status_error(res, what, "start upload of") end
  local location = next_location(res, nil)
  if not location then
    return layer.transport:fail("EPROTO",
      what .. ": the registry started an upload without a Location")
  end
  return location, tonumber(res.headers["oci-chunk-min-length"])
end

-- PUT that ends an upload session with its last bytes, and the check of
-- what the registry stored: the digest | fail.
local function finish(layer, location, d, body, what, scopes)
  local res, err, code = layer:write({method = "PUT", scopes = scopes, what = what,
    url = url.add_query(location, url.query({{"digest", d}})), body = body,
    write = "finish the upload of " .. what,
    headers = {["Content-Type"] = "application/octet-stream"}})
  if not res then return nil, err, code end
  if res.status ~= 201 and res.status ~= 204 then
    return layer.transport:status_error(res, what, "finish upload of")
  end
  local stored = res.headers["docker-content-digest"]
  if stored and stored ~= d then
    return layer.transport:fail("EDIGEST", string.format("%s: the registry stored the blob as %s",
      what, stored))
  end
  return d
end

-- POST an upload session, send the data (one PUT, or PATCHes then a PUT) and
-- check what the registry stored.
local function send(layer, repository, source, opts)
  local d = source.digest
  local what = names.display(layer.host, repository, d)
  local scopes = {names.scope(repository, "pull,push")}
  if M.head(layer, repository, d) then return d end
  local location, err, code = open_session(layer, repository, what, scopes,
    string.format("upload blob %s (%d bytes)", what, source.size))
  if not location then return nil, err, code end
  local body = ""
  if opts.chunk_size then
    location, err, code = upload_chunks(layer, source, location, opts.chunk_size, what, scopes)
    if not location then return nil, err, code end
  else
    body = source.all()
  end
  return finish(layer, location, d, body, what, scopes)
end

--- Upload data (a string or {path=}) to repository; returns its digest. A blob
--- the repository already has is not sent again. opts.chunk_size: PATCH in
--- chunks of that many bytes instead of one PUT.
function M.upload(layer, repository, data, opts)
  local source, source_err = open_source(data)
  if not source then
    return layer.transport:fail("EIO", string.format("%s: cannot read %s: %s", layer.host,
      tostring(data.path), tostring(source_err)))
  end
  local result, err, code = send(layer, repository, source, opts or {})
  source.close()
  return result, err, code
end

-- Bytes a streamed copy gathers before it PATCHes them on (more if the
-- destination asks for bigger chunks): with the transfer's ~1 MiB backlog,
-- what a blob in flight costs in memory, whatever its size.
local STREAM_CHUNK = 4 * 1024 * 1024

-- Raised from the body callbacks to stop the GET when the upload fails.
local upload_failed = setmetatable({}, {__tostring = function() return "upload failed" end})

--- Copy blob descriptor d from src's src_repository to dst's dst_repository
--- (src and dst are layers), streamed: the GET's body goes out in PATCHed
--- chunks as it arrives, the GET pausing while a chunk is sent, so memory
--- holds one chunk whatever the blob's size, and nothing touches the disk.
--- The bytes are checked against d.digest before the upload is finished
--- (an upload that fails is cancelled). Returns the digest | fail.
function M.stream(src, src_repository, dst, dst_repository, d)
  local what = names.display(dst.host, dst_repository, d.digest)
  local scopes = {names.scope(dst_repository, "pull,push")}
  local description = string.format("upload blob %s (%s bytes from %s)", what,
    tostring(d.size or "?"), names.display(src.host, src_repository))
  local session = {offset = 0}
  local parts, held, hasher
  local function fail(err, code)
    session.failure = {err, code}
    error(upload_failed, 0)
  end
  local function open()
    local location, min, code = open_session(dst, dst_repository, what, scopes, description)
    if not location then fail(min, code) end
    session.location, session.offset = location, 0
    session.chunk = math.max(STREAM_CHUNK, min or 0)
  end
  local function cancel()
    if not session.location then return end
    dst:write({method = "DELETE", url = session.location, what = what, scopes = scopes,
      write = "cancel the upload of " .. what})
    session.location = nil
  end
  local function send_held()
    local chunk = table.concat(parts)
    parts, held = {}, 0
    local location, err, code = patch(dst, session.location, chunk, session.offset, what, scopes)
    if not location then fail(err, code) end
    session.location, session.offset = location, session.offset + #chunk
  end
  local function on_attempt()  -- each attempt of the GET starts from the first byte
    parts, held, hasher = {}, 0, digest.new(d.digest:match("^(%w+):"))
    if session.offset > 0 then  -- chunks of a broken attempt went out: a new session
      cancel()
      open()
    end
  end
  local function on_data(data)
    hasher:update(data)
    parts[#parts + 1] = data
    held = held + #data
    if held >= session.chunk then send_held() end
  end
  local ok, res, err, code = pcall(function()
    open()
    return fetch(src, src_repository, d.digest,
      {on_data = on_data, on_attempt = on_attempt})
  end)
  if not ok then
    if res ~= upload_failed then error(res, 0) end  -- interrupted: the registry expires the session
    cancel()
    return nil, session.failure[1], session.failure[2]
  end
  if not res then
    cancel()
    return nil, err, code
  end
  if res.status ~= 200 then
    cancel()
    if held <= 64 * 1024 then res.body = table.concat(parts) end  -- the registry's error, for the message
    return src.transport:status_error(res, names.display(src.host, src_repository, d.digest),
      "blob")
  end
  local actual = hasher:digest()
  if actual ~= d.digest then
    cancel()
    return src.transport:fail("EDIGEST", string.format("%s: the registry sent content with "
      .. "digest %s", names.display(src.host, src_repository, d.digest), actual))
  end
  local stored
  stored, err, code = finish(dst, session.location, d.digest, table.concat(parts), what, scopes)
  if not stored then cancel() end
  return stored, err, code
end

--- Mount blob_digest from from_repository into repository (same registry):
--- true when mounted, false when the registry started an upload instead (which
--- is cancelled again), or a fail.
function M.mount(layer, repository, blob_digest, from_repository)
  local what = names.display(layer.host, repository, blob_digest)
  local res, err, code = layer:write({method = "POST", what = what,
    scopes = {names.scope(repository, "pull,push"), names.scope(from_repository, "pull")},
    path = "/v2/" .. repository .. "/blobs/uploads/?" .. url.query({{"mount", blob_digest},
      {"from", from_repository}}),
    write = string.format("mount blob %s from %s/%s", what, layer.host, from_repository)})
  if not res then return nil, err, code end
  if res.status == 201 then return true end
  if res.status == 202 then
    local location = next_location(res, nil)
    if location then  -- do not leave a dangling upload session behind
      layer:write({method = "DELETE", url = location, what = what,
        scopes = {names.scope(repository, "pull,push")}, write = "cancel the upload of " .. what})
    end
    return false
  end
  return layer.transport:status_error(res, what, "mount")
end

return M
