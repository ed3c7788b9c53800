-- regsh.http (lua/regsh/http.lua over src/http.c) against real servers: a
-- docker-registry for the protocol, big bodies and auth, and
-- tests/support/http_server.py for what a registry never does (repeated
-- headers, redirects, a server that never answers or hangs up).
local http = require "regsh.http"
local core = require "regsh.core.http"
local async = require "regsh.async"
local loop = require "regsh.core.loop"
local digest = require "regsh.core.digest"
local R = require "support.registry"
local servers = require "support.servers"
local cmd = require "support.cmd"

local MiB = 1024 * 1024

-- n MiB that do not repeat within a MiB, so a misplaced chunk shows
local function big_data(mib)
  local words = {}
  for i = 1, MiB / 8 do words[i] = string.pack("<I8", (i * 2654435761) % 2^40) end
  local block = table.concat(words)
  local parts = {}
  for i = 1, mib do parts[i] = string.pack("<I8", i) .. block:sub(9) end
  return table.concat(parts)
end

local tmpname, read_file = cmd.temp_name, cmd.read_file

describe("regsh.http against a registry #disk", function()
  local r, base

  setup(function()
    r = R.start()
    base = r.url
  end)

  teardown(function()
    R.stop(r)
  end)

  it("GETs /v2/ from the main chunk: status, body, headers, version, url", function()
    local res, err = http.get(base .. "/v2/")
    assert.is_nil(err)
    assert.equal(200, res.status)
    assert.equal("{}", res.body)
    assert.equal("1.1", res.http_version)
    assert.equal(base .. "/v2/", res.url)
    assert.equal("registry/2.0", res.headers["docker-distribution-api-version"])
    assert.is_number(res.time)
  end)

  it("looks headers up by any spelling, keeping names as received in header_list", function()
    local res = assert(http.get(base .. "/v2/"))
    assert.matches("^application/json", res.headers["Content-Type"])
    assert.equal(res.headers["content-type"], res.headers["CONTENT-TYPE"])
    assert.is_nil(res.headers["X-Not-There"])
    local names = {}
    for _, h in ipairs(res.header_list) do names[h.name] = h.value end
    assert.equal("2", names["Content-Length"])
    assert.same({"2"}, http.header_values(res, "content-length"))
  end)

  it("returns HTTP error statuses as responses, not failures", function()
    local res = assert(http.get(base .. "/v2/no/such/thing/here"))
    assert.equal(404, res.status)
    res = assert(http.get(base .. "/v2/_catalog"))
    assert.equal(200, res.status)
    assert.same({repositories = {}}, require("cjson").decode(res.body))
  end)

  it("sends HEAD without reading a body", function()
    local res = assert(http.head(base .. "/v2/"))
    assert.equal(200, res.status)
    assert.equal("", res.body)
    assert.equal("2", res.headers["content-length"])
  end)

  it("runs 100 requests at once from 100 tasks, then reuses the connections", function()
    local tasks = {}
    for i = 1, 100 do
      tasks[i] = async.spawn(function()
        local res = assert(http.get(base .. "/v2/"))
        return res.status
      end)
    end
    local statuses = {async.wait(table.unpack(tasks))}
    assert.equal(100, #statuses)
    for i = 1, 100 do assert.equal(200, statuses[i]) end
    -- one after another, each finds an idle connection in the shared cache
    local opened = 0
    for _ = 1, 20 do opened = opened + assert(http.get(base .. "/v2/")).new_connections end
    assert.equal(0, opened)
  end)

  describe("with a 20 MiB blob", function()
    local data, blob_url

    setup(function()
      data = big_data(20)
      local d = digest.string(data)
      local start = assert(http.request{method = "POST", url = base .. "/v2/big/blobs/uploads/"})
      assert.equal(202, start.status)
      local location = start.headers.location
      local sep = location:find("?", 1, true) and "&" or "?"
      local put = assert(http.request{
        method = "PUT", url = location .. sep .. "digest=" .. d, body = data,
        headers = {["Content-Type"] = "application/octet-stream"},
      })
      assert.equal(201, put.status)
      blob_url = base .. "/v2/big/blobs/" .. d
    end)

    it("reads it into memory", function()
      local res = assert(http.get(blob_url))
      assert.equal(200, res.status)
      assert.equal(#data, #res.body)
      assert.is_true(res.body == data)
    end)

    it("writes it to a file as it arrives, holding no body", function()
      local path = tmpname()
      local res = assert(http.get(blob_url, {output = path}))
      assert.equal(200, res.status)
      assert.is_nil(res.body)
      local got = read_file(path)
      os.remove(path)
      assert.equal(#data, #got)
      assert.is_true(got == data)
    end)

    it("streams it to on_data, pausing the transfer while a slow callback catches up", function()
      -- three times: news of a transfer that curl ran from its timer
      -- callback (where libuv runs it, before polling for I/O) used to wait
      -- in that poll, and for a paused transfer until its timeout: 8 s here
      for _ = 1, 3 do
        local chunks, biggest, first_slow = {}, 0, true
        local res = assert(http.get(blob_url, {timeout = 8, on_data = function(chunk)
          chunks[#chunks + 1] = chunk
          biggest = math.max(biggest, #chunk)
          if first_slow then  -- meanwhile ~20 MiB could arrive if nothing paused
            first_slow = false
            async.sleep(0.2)
          end
        end}))
        assert.equal(200, res.status)
        assert.is_nil(res.body)
        assert.is_true(#chunks > 1)
        assert.is_true(table.concat(chunks) == data)
        -- the backlog stays near the 1 MiB high-water mark (plus one network chunk)
        assert.is_true(biggest <= MiB + 256 * 1024, "chunk of " .. biggest .. " bytes")
      end
    end)

    it("streams inside a task too", function()
      local t = async.spawn(function()
        local n = 0
        local res = assert(http.get(blob_url, {timeout = 8, on_data = function(c) n = n + #c end}))
        return res.status, n
      end)
      local status, n = t:wait()
      assert.equal(200, status)
      assert.equal(#data, n)
    end)

    it("refuses a body larger than max_body with ETOOBIG", function()
      local res, err, code = http.get(blob_url, {max_body = MiB})
      assert.is_nil(res)
      assert.equal("ETOOBIG", code)
      assert.matches("^ETOOBIG: " .. base:gsub("%p", "%%%0"), err)
      -- the default leaves room for this one
      assert.equal(200, assert(http.get(blob_url)).status)
    end)

    it("raises the error of an on_data callback and stops the transfer", function()
      assert.has_error(function()
        http.get(blob_url, {on_data = function() error("enough") end})
      end, "enough")
      assert.equal(200, assert(http.get(base .. "/v2/")).status)
    end)
  end)

  it("gives ETLS for https to a plain HTTP port", function()
    local res, err, code = http.get("https://" .. r.host .. "/v2/")
    assert.is_nil(res)
    assert.equal("ETLS", code)
    assert.matches("^ETLS: https://127%.0%.0%.1:%d+/v2/: ", err)
  end)
end)

describe("regsh.http with registry auth", function()
  local r

  setup(function()
    r = R.start{htpasswd = {alice = "s3cret"}}
  end)

  teardown(function()
    R.stop(r)
  end)

  it("returns the 401 challenge as a response and sends Authorization", function()
    local res = assert(http.get(r.url .. "/v2/"))
    assert.equal(401, res.status)
    assert.matches('^Basic realm="basic%-realm"', res.headers["WWW-Authenticate"])
    res = assert(http.get(r.url .. "/v2/", {
      headers = {Authorization = "Basic YWxpY2U6czNjcmV0"},  -- alice:s3cret
    }))
    assert.equal(200, res.status)
  end)
end)

describe("regsh.http with HTTPS", function()
  local r, pki

  setup(function()
    pki = servers.pki()
    r = R.start{tls = pki.server_cert .. "," .. pki.server_key}
  end)

  teardown(function()
    R.stop(r)
  end)

  it("verifies the server against ca_file and speaks HTTP/2 when offered", function()
    local res = assert(http.get(r.url .. "/v2/", {ca_file = pki.ca}))
    assert.equal(200, res.status)
    assert.equal("2", res.http_version)
    -- HTTP/2 names arrive in lower case; lookups work the same
    assert.matches("^application/json", res.headers["Content-Type"])
    assert.same({"registry/2.0"}, http.header_values(res, "Docker-Distribution-Api-Version"))
    for _, h in ipairs(res.header_list) do assert.equal(h.name:lower(), h.name) end
  end)

  it("multiplexes concurrent requests over one HTTP/2 connection", function()
    local tasks = {}
    for i = 1, 20 do
      tasks[i] = async.spawn(function()
        return assert(http.get(r.url .. "/v2/_catalog", {ca_file = pki.ca})).new_connections
      end)
    end
    local opened = 0
    for _, n in ipairs({async.wait(table.unpack(tasks))}) do opened = opened + n end
    assert.is_true(opened <= 1, opened .. " connections")
  end)

  it("fails with ETLS for an unknown CA, unless insecure", function()
    local res, err, code = http.get(r.url .. "/v2/")
    assert.is_nil(res)
    assert.equal("ETLS", code)
    assert.matches("certificate", err)
    res = assert(http.get(r.url .. "/v2/", {insecure = true}))
    assert.equal(200, res.status)
  end)
end)

describe("regsh.http edge cases", function()
  local s

  setup(function()
    s = servers.start_python("http_server.py")
  end)

  teardown(function()
    servers.stop(s)
  end)

  it("keeps repeated headers in order; headers holds the first value", function()
    local res = assert(http.get(s.url .. "/repeat"))
    assert.equal("one", res.headers["x-repeat"])
    assert.equal("one", res.headers["X-REPEAT"])
    assert.same({"one", "two", "three"}, http.header_values(res, "X-Repeat"))
    local names = {}
    for _, h in ipairs(res.header_list) do
      if h.name:lower() == "x-repeat" then names[#names + 1] = h.name end
    end
    assert.same({"X-Repeat", "X-Repeat", "x-repeat"}, names)
  end)

  it("joins an obsolete folded header value", function()
    local res = assert(http.get(s.url .. "/folded"))
    assert.equal("first second third", res.headers["x-folded"])
  end)

  it("does not follow redirects unless asked", function()
    local res = assert(http.get(s.url .. "/redirect/2"))
    assert.equal(302, res.status)
    assert.equal("/redirect/1", res.headers.location)
  end)

  it("follows redirects, keeping only the last response's headers", function()
    local res = assert(http.get(s.url .. "/redirect/3", {follow = true}))
    assert.equal(200, res.status)
    assert.equal("landed", res.body)
    assert.equal(s.url .. "/redirect/0", res.url)
    assert.equal("yes", res.headers["x-final"])
    assert.is_nil(res.headers["x-hop"])
    assert.same({}, http.header_values(res, "x-hop"))
  end)

  it("hands over a response read at once, without waiting for another event", function()
    -- The answer to the second request is in the socket before curl sends
    -- it, so curl reads all of it inside its timer callback, which libuv runs
    -- before it polls for I/O, and watches no socket for it. That poll must
    -- not wait: here it would wait for the far timer; a streamed body paused
    -- there (no socket watched either) used to wait for its timeout.
    local own = servers.start_python("http_server.py")
    assert.equal(32768, #assert(http.get(own.url .. "/ahead?n=1000")).body)
    local far = loop.timer(5)
    local got = {}
    local res = assert(http.get(own.url .. "/next", {timeout = 20, on_data = function(c)
      got[#got + 1] = c
    end}))
    local waited = not loop.active(far)
    loop.cancel(far)
    async.await(far)
    servers.stop(own)
    assert.equal(0, res.new_connections)  -- the connection the answer waited on
    assert.equal(("b"):rep(1000), table.concat(got))
    assert.is_false(waited, "the response was handed over only when the far timer fired")
  end)

  it("counts a body of unannounced length against max_body as it arrives", function()
    local url = s.url .. "/chunked?n=" .. 3 * MiB
    local res = assert(http.get(url))
    assert.equal(3 * MiB, #res.body)
    local _, err, code = http.get(url, {max_body = MiB})
    assert.equal("ETOOBIG", code)
    assert.matches("max_body %(1048576 bytes%)", err)
    local got = 0
    res, _, code = http.get(url, {max_body = 2 * MiB, on_data = function(c) got = got + #c end})
    assert.is_nil(res)
    assert.equal("ETOOBIG", code)
    assert.is_true(got > 0 and got <= 2 * MiB, got .. " bytes")
    local path = tmpname()
    res, _, code = http.get(url, {max_body = MiB, output = path})
    assert.is_nil(res)
    assert.equal("ETOOBIG", code)
    assert.is_true(#read_file(path) <= MiB)
    os.remove(path)
  end)

  it("gives ETOOMANYREDIRECTS past the follow limit", function()
    local res, err, code = http.get(s.url .. "/redirect/3", {follow = 2})
    assert.is_nil(res)
    assert.equal("ETOOMANYREDIRECTS", code)
    assert.matches("/redirect/", err)
  end)

  it("sends method, body and headers (several values, removal, empty)", function()
    local res = assert(http.request{
      method = "PUT", url = s.url .. "/echo", body = "payload\0bytes",
      headers = {["X-Multi"] = {"a", "b"}, Accept = false, ["X-Empty"] = "", ["X-Num"] = 7},
    })
    local echo = require("cjson").decode(res.body)
    assert.equal("PUT", echo.method)
    assert.equal("payload\0bytes", echo.body)
    local got = {}
    for _, h in ipairs(echo.headers) do
      local k = h[1]:lower()
      got[k] = got[k] and (got[k] .. "," .. h[2]) or h[2]
    end
    assert.equal("a,b", got["x-multi"])
    assert.is_nil(got.accept)
    assert.equal("", got["x-empty"])
    assert.equal("7", got["x-num"])
    assert.is_nil(got["content-type"])  -- not curl's form default
    assert.is_nil(got.expect)
    assert.matches("^regsh/", got["user-agent"])
    res = assert(http.request{method = "POST", url = s.url .. "/echo", user_agent = "probe/1"})
    echo = require("cjson").decode(res.body)
    assert.equal("POST", echo.method)
    assert.equal("", echo.body)
    for _, h in ipairs(echo.headers) do
      if h[1]:lower() == "user-agent" then assert.equal("probe/1", h[2]) end
      if h[1]:lower() == "content-length" then assert.equal("0", h[2]) end
    end
  end)

  it("times out on a server that never answers (ETIMEDOUT)", function()
    local t0 = loop.monotonic()
    local res, err, code = http.get(s.url .. "/hang", {timeout = 0.3})
    assert.is_nil(res)
    assert.equal("ETIMEDOUT", code)
    assert.matches("^ETIMEDOUT: http://127%.0%.0%.1:%d+/hang: ", err)
    assert.is_true(loop.monotonic() - t0 < 3)
  end)

  it("ends a request that receives nothing for stall_timeout (ETIMEDOUT), without a whole"
     .. " transfer limit", function()
    local res, err, code = http.get(s.url .. "/hang", {timeout = 0, stall_timeout = 1})
    assert.is_nil(res)
    assert.equal("ETIMEDOUT", code, err)
    assert.matches("/hang: ", err)
  end)

  it("lets a slow but steady body run longer than stall_timeout", function()
    -- 6 KiB, one KiB every 0.4 s: about 2 s, with bytes never more than 0.4 s apart
    local res = assert(http.get(s.url .. "/trickle?n=6&every=0.4", {stall_timeout = 1}))
    assert.equal(200, res.status)
    assert.equal(string.rep("t", 6 * 1024), res.body)
  end)

  it("checks stall_timeout before anything is sent", function()
    for _, bad in ipairs{-1, "soon", 1e8} do
      local ok, err = pcall(http.get, s.url .. "/echo", {stall_timeout = bad})
      assert.is_false(ok)
      assert.matches("stall_timeout", err)
    end
  end)

  it("refuses a user_agent that would start another header line", function()
    for _, agent in ipairs{"probe/1\r\nX-Evil: 1", "probe/1\nX-Evil: 1", "probe\0"} do
      local ok, err = pcall(http.get, s.url .. "/echo", {user_agent = agent})
      assert.is_false(ok)
      assert.matches("header 'User%-Agent' has a line break or NUL in its value", err)
    end
    -- what does go out is the agent as given, on one line
    local res = assert(http.get(s.url .. "/echo", {user_agent = "probe/2 (x)"}))
    local sent = require("regsh.json").decode(res.body).headers
    local agents = {}
    for _, h in ipairs(sent) do
      if h[1]:lower() == "user-agent" then agents[#agents + 1] = h[2] end
    end
    assert.same({"probe/2 (x)"}, agents)
  end)

  it("gives ETOOBIG, not a broken connection, for over-long response headers", function()
    -- many headers: over regsh's limit for the whole block
    local res, err, code = http.get(s.url .. "/bigheader?lines=400&size=1000")
    assert.is_nil(res)
    assert.equal("ETOOBIG", code)
    assert.matches("^ETOOBIG: http://127%.0%.0%.1:%d+/bigheader%?lines=400&size=1000: "
      .. "response headers larger than 262144 bytes$", err)
    -- one header line over curl's own limit
    res, err, code = http.get(s.url .. "/bigheader?lines=1&size=200000")
    assert.is_nil(res)
    assert.equal("ETOOBIG", code)
    assert.matches("/bigheader%?lines=1&size=200000: a response header line longer than "
      .. "102400 bytes$", err)
    -- just under the limits is a response
    res = assert(http.get(s.url .. "/bigheader?lines=200&size=1000"))
    assert.equal(200, res.status)
    assert.equal(string.rep("b", 1000), res.headers["x-big-199"])
  end)

  it("gives EMFILE when no file descriptor is left for a connection", function()
    -- a child regsh with a low descriptor limit uses up what is left, then
    -- asks for a connection (the multi handle already exists: configure)
    local script = cmd.temp_file(([[
      local http = require "regsh.http"
      http.configure{}
      local files = {}
      repeat
        local f = io.open("/dev/null")
        files[#files + 1] = f
      until not f
      local res, err, code = http.get(%q)
      for _, f in ipairs(files) do f:close() end
      print(code, err)
    ]]):format(s.url .. "/repeat"))
    local out, status, stderr = cmd.sh("ulimit -n 64 && " .. cmd.quote(cmd.bin) .. " "
      .. cmd.quote(script))
    os.remove(script)
    assert.equal(0, status, stderr)
    assert.matches("^EMFILE\tEMFILE: http://127%.0%.0%.1:%d+/repeat: cannot open a socket: too many open files\n$", out)
  end)

  it("gives ECONNRESET when the server hangs up without answering", function()
    local res, _, code = http.get(s.url .. "/close")
    assert.is_nil(res)
    assert.equal("ECONNRESET", code)
  end)

  it("cancels an in-flight request with task:cancel()", function()
    local t0 = loop.monotonic()
    local t = async.spawn(function() return http.get(s.url .. "/hang") end)
    async.sleep(0.2)
    assert.is_true(t:cancel())
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.equal(async.cancelled, err)
    assert.equal("cancelled", t.status)
    assert.is_true(loop.monotonic() - t0 < 5)
    -- the module is still usable afterwards
    assert.equal(200, assert(http.get(s.url .. "/slow?s=0")).status)
  end)

  it("reports ECANCELED for an op cancelled through the loop", function()
    local op = assert(core.request{url = s.url .. "/hang"})
    assert.is_true(loop.cancel(op))
    async.await(op)
    local res, err, code = op:result()
    assert.is_nil(res)
    assert.equal("ECANCELED", code)
    assert.matches("/hang: request cancelled", err)
  end)

  it("caps connections per host with configure{max_host_connections}", function()
    -- "localhost" is a host of its own for curl's connection cache
    local url = s.url:gsub("127%.0%.0%.1", "localhost") .. "/slow?s=0.05"
    http.configure{max_host_connections = 2}
    local ok, err = pcall(function()
      local tasks = {}
      for i = 1, 12 do
        tasks[i] = async.spawn(function() return assert(http.get(url)).new_connections end)
      end
      local opened = 0
      for _, n in ipairs({async.wait(table.unpack(tasks))}) do opened = opened + n end
      assert.is_true(opened >= 1 and opened <= 2, opened .. " connections")
    end)
    http.configure{max_host_connections = 0}
    assert(ok, err)
  end)
end)

describe("regsh.http failures", function()
  it("gives ECONNREFUSED for a closed port", function()
    local res, err, code = http.get("http://127.0.0.1:1/v2/")
    assert.is_nil(res)
    assert.equal("ECONNREFUSED", code)
    assert.matches("^ECONNREFUSED: http://127%.0%.0%.1:1/v2/: ", err)
  end)

  it("gives EHOST for a name that does not resolve", function()
    local res, err, code = http.get("http://nonexistent.invalid/")
    assert.is_nil(res)
    assert.equal("EHOST", code)
    assert.matches("nonexistent%.invalid", err)
  end)

  it("gives EURL for a malformed URL or another protocol", function()
    local _, _, code = http.get("http://exa mple.com:99999/")
    assert.equal("EURL", code)
    local _, err, code2 = http.get("ftp://127.0.0.1/file")
    assert.equal("EURL", code2)
    assert.matches("^EURL: ftp://127%.0%.0%.1/file: ", err)
  end)

  it("never puts the password of a URL in a message", function()
    local res, err = http.get("http://alice:hunter2@127.0.0.1:1/")
    assert.is_nil(res)
    assert.is_nil(err:find("hunter2", 1, true))
    assert.matches("http://%*%*%*@127%.0%.0%.1:1/", err)
  end)

  it("fails with the file's error when output cannot be opened", function()
    local res, err, code = http.get("http://127.0.0.1:1/", {output = "/nonexistent-dir/x"})
    assert.is_nil(res)
    assert.equal("ENOENT", code)
    assert.matches("/nonexistent%-dir/x", err)
  end)

  it("raises on misuse: option types, unknown options, bad headers", function()
    -- luaL_argerror names the function as called ('request', 'http.request'...):
    -- match the stable part
    local ok, err = pcall(http.request, "http://x/")
    assert.is_false(ok)
    assert.matches("bad argument #1 to '[%w.]*request' %(table expected, got string%)", err)
    assert.has_error(function() http.request{} end, "option 'url' is required")
    assert.has_error(function() http.request{url = 42} end, "option 'url' must be a string, got number")
    assert.has_error(function() http.get("http://x/", {timeout = "soon"}) end,
      "option 'timeout' must be a number, got string")
    assert.has_error(function() http.get("http://x/", {timeout = -1}) end,
      "option 'timeout' must be a number of seconds >= 0")
    assert.has_error(function() http.get("http://x/", {connect_timeout = -1}) end,
      "option 'connect_timeout' must be a number of seconds >= 0")
    assert.has_error(function() http.get("http://x/", {follow = "yes"}) end,
      "option 'follow' must be a boolean or a number, got string")
    assert.has_error(function() http.get("http://x/", {follow = 1.5}) end,
      "option 'follow' must be a boolean or a number of redirects between 0 and 1000")
    assert.has_error(function() http.get("http://x/", {insecure = 1}) end,
      "option 'insecure' must be a boolean, got number")
    assert.has_error(function() http.get("http://x/", {on_data = "f"}) end,
      "option 'on_data' must be a function, got string")
    assert.has_error(function() http.get("http://x/", {max_body = -5}) end,
      "option 'max_body' must be >= 0")
    assert.has_error(function() http.get("http://x/", {max_body = -1}) end,
      "option 'max_body' must be >= 0")
    assert.has_error(function() http.get("http://x/", {output = "/tmp/x", on_data = print}) end,
      "options 'output' and 'on_data' exclude each other")
    assert.has_error(function() http.get("http://x/", {headers = "X: y"}) end,
      "option 'headers' must be a table, got string")
    assert.has_error(function() http.get("http://x/", {headers = {["X-A"] = "b\r\nX-Evil: 1"}}) end,
      "header 'X-A' has a line break or NUL in its value")
    assert.has_error(function() http.get("http://x/", {headers = {["X-A"] = {"ok", "b\nX: 1"}}}) end,
      "header 'X-A' has a line break or NUL in its value")
    assert.has_error(function() http.get("http://x/", {headers = {["Bad Name"] = "v"}}) end,
      "invalid header name 'Bad Name'")
    assert.has_error(function() http.get("http://x/", {headers = {X = {}, Y = {true}}}) end,
      "header 'Y' must be a string, a number, false or an array of strings, got boolean")
    assert.has_error(function() http.request{url = "http://x/", method = "GE T"} end,
      "invalid method 'GE T'")
    assert.has_error(function() http.request{url = "http://x/", body = {}} end,
      "option 'body' must be a string, got table")
    assert.has_error(function() http.request{url = "http://x/", bogus = 1} end,
      "unknown option 'bogus'")
    assert.has_error(function() http.configure{max_host_connections = -3} end,
      "option 'max_host_connections' must be between 0 and 100000")
    assert.has_error(function() http.configure{max_idle_connections = 0} end,
      "option 'max_idle_connections' must be between 1 and 100000")
    assert.has_error(function() http.configure{max_total_connections = -3} end,
      "option 'max_total_connections' must be between 0 and 100000")
    assert.has_error(function() http.configure{pool = 1} end, "unknown option 'pool'")
  end)

  it("refuses a connection limit of -1 like any other negative one", function()
    assert.has_error(function() http.configure{max_total_connections = -1} end,
      "option 'max_total_connections' must be between 0 and 100000")
    assert.has_error(function() http.configure{max_idle_connections = 0} end,
      "option 'max_idle_connections' must be between 1 and 100000")
  end)

  it("checks every option before it acquires anything", function()
    -- output would be created; a bad option read after it must stop that
    local path = tmpname()
    assert.has_error(function()
      http.get("http://127.0.0.1:1/", {output = path, user_agent = "a\nb"})
    end, "header 'User-Agent' has a line break or NUL in its value")
    assert.has_error(function()
      http.get("http://127.0.0.1:1/", {output = path, headers = {["X-A"] = {{}}}})
    end, "header 'X-A' must be a string, a number, false or an array of strings, got table")
    assert.is_nil(io.open(path))
    local res, _, code = http.get("http://127.0.0.1:1/", {output = path})
    assert.is_nil(res)
    assert.equal("ECONNREFUSED", code)
    assert(io.open(path)):close()  -- opened once the options were good
    os.remove(path)
  end)

  it("blames the caller's line for misuse", function()
    local ok, err = pcall(function()
      local res = http.request{url = "http://x/", bogus = 1}
      return res
    end)
    assert.is_false(ok)
    assert.matches("http_spec%.lua:%d+: unknown option 'bogus'", err)
  end)

  it("exposes libcurl's version", function()
    assert.matches("^%d+%.%d+%.%d+", http.curl_version)
    assert.equal(core.curl_version, http.curl_version)
  end)
end)

describe("regsh.http connect_timeout and max_total_connections", function()
  local reg, fp, hole

  setup(function()
    reg, fp = servers.proxied_registry{}
    hole = servers.start_python("full_backlog.py")  -- a connect there never completes
  end)

  teardown(function() servers.stop_all(hole, fp, reg) end)

  it("gives up connecting after connect_timeout with ETIMEDOUT, whatever timeout allows", function()
    local res, err, code = http.get(hole.url .. "/", {connect_timeout = 0.3, timeout = 8})
    assert.is_nil(res)
    assert.equal("ETIMEDOUT", code, err)
    -- curl names the time it waited: the 0.3 s asked for, not the 10 s default
    local waited = tonumber(err:match("after (%d+) ms"))
    assert.truthy(waited, err)
    assert.is_true(waited >= 300 and waited < 5000, err)
  end)

  it("keeps at most max_total_connections requests on the wire at once", function()
    -- each answer is held back a little, so unlimited requests overlap
    local function peak()
      fp:clear()
      fp:add{action = "delay", seconds = 0.2, times = -1, match = "^/v2/$"}
      local tasks = {}
      for i = 1, 6 do
        tasks[i] = async.spawn(function() return assert(http.get(fp.url .. "/v2/")).status end)
      end
      for _, status in ipairs({async.wait(table.unpack(tasks))}) do assert.equal(200, status) end
      local most = 0
      for _, e in ipairs(fp:log("^/v2/$")) do most = math.max(most, e.inflight) end
      return most
    end
    http.configure{max_total_connections = 1}
    local ok, most = pcall(peak)
    http.configure{max_total_connections = 0}
    assert(ok, most)
    assert.equal(1, most)
    assert.is_true(peak() > 1)  -- without the limit they do overlap
  end)
end)
