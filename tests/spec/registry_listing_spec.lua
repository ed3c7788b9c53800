-- Listing bounds against tests/support/listing_server.py, a stand-in that
-- answers what no real registry would: an endless run of fresh next pages,
-- and one page of 100,000 tags of ~120 bytes (12 MB). A listing stops with
-- ETOOBIG past max_pages or max_entries, and a big listing costs memory in
-- proportion to it: the peak RSS of a child regsh (VmHWM) is measured.
local registry = require "regsh.registry"
local servers = require "support.servers"
local cmd = require "support.cmd"

local BIG = 100000

-- Run `regsh ls HOST/REPO extra...` in a child regsh that reports its peak
-- RSS (kB) on stderr; stdout goes through `filter` (a shell command).
-- Returns filter's output, regsh's exit status, the peak in MB, stderr.
local function ls_peak(host_repo, extra, filter)
  local argv = {"'ls'", cmd.quote(host_repo)}
  for _, a in ipairs(extra) do argv[#argv + 1] = cmd.quote(a) end
  local code = "local status = require('regsh.cli').main({" .. table.concat(argv, ", ") .. "})"
    .. " io.stdout:flush()"
    .. " local f = io.open('/proc/self/status') local kb = f:read('a'):match('VmHWM:%s*(%d+)')"
    .. " io.stderr:write('\\npeak=', kb, ' status=', status, '\\n') os.exit(status)"
  local out, _, err = cmd.sh("{ " .. cmd.quote(cmd.bin) .. " -e " .. cmd.quote(code)
    .. " | " .. filter .. "; }")
  local kb = tonumber(err:match("peak=(%d+)"))
  assert(kb, "no peak from the child: " .. err)
  return out, tonumber(err:match("status=(%d+)")), kb / 1024, err
end

describe("registry listing bounds", function()
  local srv

  setup(function()
    srv = servers.start_python("listing_server.py", {"--tags", tostring(BIG)})
  end)

  teardown(function()
    servers.stop(srv)
  end)

  local function pages()
    local _, body = servers.curl("GET", srv.url .. "/_stats")
    return body.pages
  end

  it("stops an endless run of fresh next pages with ETOOBIG after max_pages", function()
    local before = pages()
    local r = registry.open(srv.host, {max_pages = 25})
    local tags, err, code = r:tags("endless")
    assert.is_nil(tags)
    assert.equal("ETOOBIG", code, err)
    assert.matches(srv.host .. "/endless", err, 1, true)
    assert.matches("more than 25 pages", err, 1, true)
    assert.equal(25, pages() - before)
  end)

  it("stops the iterator of an endless listing too (each_tag raises ETOOBIG)", function()
    local r = registry.open(srv.host, {max_pages = 10})
    local n = 0
    local ok, err = pcall(function() for _ in r:each_tag("endless") do n = n + 1 end end)
    assert.is_false(ok)
    assert.matches("^ETOOBIG: ", err)
    assert.equal(10, n)
  end)

  it("fails with ETOOBIG past max_entries", function()
    local r = registry.open(srv.host, {max_entries = 1000})
    local tags, err, code = r:tags("big")
    assert.is_nil(tags)
    assert.equal("ETOOBIG", code, err)
    assert.matches("more than 1000 entries", err, 1, true)
  end)

  it("has defaults (max_pages 10000, max_entries 1000000) and checks the options", function()
    local r = registry.open(srv.host)
    assert.equal(10000, r.max_pages)
    assert.equal(1000000, r.max_entries)
    assert.has_error(function() registry.open(srv.host, {max_pages = 0}) end,
      "open: option 'max_pages' must be an integer >= 1")
    assert.has_error(function() registry.open(srv.host, {max_entries = 1.5}) end,
      "open: option 'max_entries' must be an integer >= 1")
  end)

  it("lists 100,000 tags (12 MB in one page) with regsh ls within 100 MB of RSS", function()
    local out, status, mb, err = ls_peak(srv.host .. "/big", {}, "wc -l")
    assert.equal(0, status, err)
    assert.equal(BIG, tonumber(out))
    assert.is_true(cmd.sanitized or mb <= 100, string.format("regsh ls peaked at %.0f MB", mb))
  end)

  it("lists 100,000 tags as JSON (--output json) within 100 MB of RSS", function()
    local out, status, mb, err = ls_peak(srv.host .. "/big", {"--output", "json"},
      "python3 -c 'import json,sys; t=json.load(sys.stdin); print(len(t), t[-1][\"name\"][:7])'")
    assert.equal(0, status, err)
    assert.equal(BIG .. " v099999", out:match("^(.-)%s*$"))
    assert.is_true(cmd.sanitized or mb <= 100, string.format("regsh ls --output json peaked at %.0f MB", mb))
  end)

  it("regsh ls --max-pages stops an endless listing with ETOOBIG, exit 1", function()
    local _, status, err = cmd.regsh({"ls", srv.host .. "/endless", "--max-pages", "5"})
    assert.equal(1, status)
    assert.matches("ETOOBIG: .*more than 5 pages", err)
  end)
end)
