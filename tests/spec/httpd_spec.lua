-- regsh.httpd (src/httpd.c on libmicrohttpd, lua/regsh/httpd.lua): a server
-- in this process, on a free loopback port, asked by regsh.http in tasks of
-- the same loop, and by a raw python3 socket for a client that stalls. Waits
-- are for conditions (a file, a gate), bounded, never for a time.
local httpd = require "regsh.httpd"
local http = require "regsh.http"
local async = require "regsh.async"
local fs = require "regsh.fs"
local log = require "regsh.log"

describe("regsh.httpd", function()
  local server, calls

  local function url(path) return "http://127.0.0.1:" .. server:port() .. path end

  local function echo(req)
    calls = calls + 1
    return 200, "text/plain", req.method .. " " .. req.path .. "\n"
  end

  before_each(function()
    calls = 0
    server = assert(httpd.listen("127.0.0.1:0", echo))
  end)
  after_each(function() server:close() end)

  it("answers GET with the handler's status, content type and body", function()
    assert.is_true(server:port() > 0)
    local r = assert(http.get(url("/a/b")))
    assert.equal(200, r.status)
    assert.equal("text/plain", r.headers["content-type"])
    assert.equal("GET /a/b\n", r.body)
  end)

  it("answers HEAD with the length of the body and no body", function()
    local r = assert(http.head(url("/x")))
    assert.equal(200, r.status)
    assert.equal(tostring(#"HEAD /x\n"), r.headers["content-length"])
    assert.equal("", r.body)
  end)

  it("refuses other methods with 405 and Allow, without calling the handler", function()
    for _, method in ipairs({"POST", "PUT", "DELETE"}) do
      local r = assert(http.request{url = url("/metrics"), method = method, body = "x=1"})
      assert.equal(405, r.status)
      assert.equal("GET, HEAD", r.headers["allow"])
    end
    assert.equal(0, calls)
  end)

  it("answers 500 when the handler raises, logs it, and goes on serving", function()
    local logged = assert(io.tmpfile())
    local before = log.configure{stream = logged}
    server:close()
    server = assert(httpd.listen("127.0.0.1:0", function(req)
      if req.path == "/boom" then error("kaboom") end
      if req.path == "/bad" then return "200", nil, {} end
      return echo(req)
    end))
    local r1 = assert(http.get(url("/boom")))
    local r2 = assert(http.get(url("/bad")))
    local r3 = assert(http.get(url("/fine")))
    log.configure(before)
    logged:seek("set")
    local text = logged:read("a")
    assert.equal(500, r1.status)
    assert.equal("internal server error\n", r1.body)
    assert.equal(500, r2.status)
    assert.equal(200, r3.status)
    assert.equal("GET /fine\n", r3.body)
    assert.matches("httpd: error: GET /boom: handler failed: .*kaboom", text)
    assert.matches("httpd: error: GET /bad: handler returned 200, nil, table", text, 1, true)
  end)

  it("answers many concurrent requests, each with its own answer", function()
    local tasks = {}
    for i = 1, 50 do
      tasks[i] = async.spawn(function() return assert(http.get(url("/n" .. i))).body end)
    end
    for i = 1, 50 do assert.equal("GET /n" .. i .. "\n", tasks[i]:wait()) end
    assert.equal(50, calls)
  end)

  it("runs handlers as tasks: one that waits does not hold up the others", function()
    local gate = async.semaphore(1)
    gate:acquire()
    server:close()
    server = assert(httpd.listen("127.0.0.1:0", function(req)
      if req.path == "/wait" then gate:acquire() end  -- until /release came
      if req.path == "/release" then gate:release() end
      return 200, "text/plain", req.path
    end))
    local waiting = async.spawn(function() return assert(http.get(url("/wait"))).body end)
    assert.equal("/release", assert(http.get(url("/release"))).body)
    assert.equal("/wait", waiting:wait())
  end)

  it("keeps serving while a client stalls half way through its request", function()
    local dir = assert(fs.temp_dir("regsh-httpd"))
    local marker = dir .. "/sent"
    local slow = assert(regsh.proc.spawn{"python3", "-c", [[
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
open(sys.argv[2], "w").close()
time.sleep(60)
]], tostring(server:port()), marker})
    for _ = 1, 600 do
      if fs.stat(marker) then break end
      async.sleep(0.05)
    end
    assert.is_truthy(fs.stat(marker))
    local r = assert(http.get(url("/other")))
    slow:kill("SIGKILL")
    slow:wait()
    fs.remove_tree(dir)
    assert.equal("GET /other\n", r.body)
    assert.equal(1, calls)  -- the stalled request never reached the handler
  end)

  it("answers 503 to a request still waiting when the server closes", function()
    local gate = async.semaphore(1)
    gate:acquire()
    server:close()
    server = assert(httpd.listen("127.0.0.1:0", function()
      gate:acquire()
      return 200, "text/plain", "late"
    end))
    local port = server:port()
    local pending = async.spawn(function()
      return assert(http.get("http://127.0.0.1:" .. port .. "/wait"))
    end)
    for _ = 1, 600 do  -- until the request waits in the handler
      if #gate.queue > 0 then break end
      async.sleep(0.01)
    end
    assert.equal(1, #gate.queue)
    server:close()
    server:close()  -- idempotent
    gate:release()
    local r = pending:wait()
    assert.equal(503, r.status)
    local _, _, code = http.get("http://127.0.0.1:" .. port .. "/")
    assert.equal("ECONNREFUSED", code)
  end)

  it("fails with one line for an address in use or a malformed one", function()
    local s, err, code = httpd.listen("127.0.0.1:" .. server:port(), echo)
    assert.is_nil(s)
    assert.equal("EADDRINUSE", code)
    assert.equal("EADDRINUSE: cannot listen on 127.0.0.1:" .. server:port()
      .. ": address already in use", err)
    for _, bad in ipairs({"nope", "127.0.0.1", "1.2.3.4.5:80", "127.0.0.1:70000", "[::1]9090",
                          "127.0.0.1:x", "example.com:80"}) do
      s, err, code = httpd.listen(bad, echo)
      assert.is_nil(s)
      assert.equal("EINVAL", code)
      assert.matches("bad listen address '" .. bad:gsub("%p", "%%%0") .. "'", err)
    end
  end)

  it("listens on IPv6 loopback and on :PORT", function()
    local s6 = httpd.listen("[::1]:0", echo)
    if s6 then  -- a host without IPv6 fails here with EADDRNOTAVAIL
      assert.equal("GET /six\n", assert(http.get("http://[::1]:" .. s6:port() .. "/six")).body)
      s6:close()
    end
    local any = assert(httpd.listen(":0", echo))
    assert.equal("GET /any\n", assert(http.get("http://127.0.0.1:" .. any:port() .. "/any")).body)
    any:close()
  end)

  it("raises on misuse", function()
    assert.has_error(function() httpd.listen(9090, echo) end,
      "bad argument #1 to 'listen' (string expected, got number)")
    assert.has_error(function() httpd.listen(":0", "echo") end,
      "bad argument #2 to 'listen' (function expected, got string)")
    assert.has_error(function() httpd.listen(":0", echo, {max_conections = 3}) end)
    assert.has_error(function() httpd.listen(":0", echo, {timeout = 0}) end)
  end)
end)
