-- regsh.httpd: a small HTTP server for scripts and `regsh serve --metrics`.
-- The C module (regsh.core.httpd, src/httpd.c) parses HTTP with libmicrohttpd
-- on the loop and queues each GET/HEAD request; here one task takes them and
-- answers each in a task of its own, the handler under pcall (an error is a
-- 500, logged, and the server goes on). See docs/reference/httpd.md.
local core = require "regsh.core.httpd"
local async = require "regsh.async"

local M = {}

M.mhd_version = core.mhd_version

local Server = {}
Server.__index = Server
Server.__name = "regsh.httpd.server"

local INTERNAL = "internal server error\n"
local TEXT = "text/plain; charset=utf-8"

local function log_failure(req, why)
  require("regsh.log").log("error", string.format("%s %s: %s", req.method, req.path, why),
    nil, "httpd")
end

-- The handler's answer, checked: status, content type, body.
local function checked(req, ok, status, ctype, body)
  if not ok then
    log_failure(req, "handler failed: " .. tostring(status))
    return 500, TEXT, INTERNAL
  end
  if math.type(status) ~= "integer" or status < 100 or status > 599
    or type(ctype) ~= "string" or ctype:find("[\r\n%z]") or type(body) ~= "string" then
    log_failure(req, string.format("handler returned %s, %s, %s (expected status, "
      .. "content type, body)", tostring(status), type(ctype), type(body)))
    return 500, TEXT, INTERNAL
  end
  return status, ctype, body
end

local function answer(srv, handler, req)
  local status, ctype, body = checked(req, pcall(handler, req))
  srv:respond(req.id, status, ctype, body)
end

--- listen(addr, handler [, {max_connections = 64, timeout = 10}]) -> server
--- | nil, err, code. addr: "127.0.0.1:9090", ":9090", "[::1]:9090" (port 0:
--- any free port). handler(req) gets {method =, path =} and returns status,
--- content_type, body. Only GET and HEAD reach it (anything else: 405).
function M.listen(addr, handler, opts)
  if type(addr) ~= "string" then
    error("bad argument #1 to 'listen' (string expected, got " .. type(addr) .. ")", 2)
  end
  if type(handler) ~= "function" then
    error("bad argument #2 to 'listen' (function expected, got " .. type(handler) .. ")", 2)
  end
  local ok, srv, err, code = pcall(core.listen, addr, opts)
  if not ok then error(srv, 2) end  -- misuse: blame the caller
  if not srv then return nil, err, code end
  local self = setmetatable({core = srv, address = addr}, Server)
  -- the acceptor: a task for as long as the server is open, so a script
  -- that listens keeps running until it closes the server
  self.task = async.spawn(function()
    while true do
      async.await(srv)
      local requests = srv:take()
      if not requests then return end
      for _, req in ipairs(requests) do async.spawn(answer, srv, handler, req) end
    end
  end)
  return self
end

--- server:port() -> the port it listens on (the one chosen, for port 0).
function Server:port()
  return self.core:port()
end

--- server:close(): stop serving; requests not answered yet get 503. Idempotent.
function Server:close()
  self.core:close()
end

Server.__close = Server.close

return M
