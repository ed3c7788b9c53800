-- Pagination against a real docker-registry: 1,200 tags (seeded with curl by
-- tests/support/seed-tags) and 130 repositories listed with page_size 50.
-- distribution 2.8 paginates the catalog (relative Link headers) but answers
-- every tag at once whatever n is, so tag pages come from
-- tests/support/fault_proxy.py's pagination emulation over the registry's
-- real list, in both Link forms; the catalog's absolute form comes from the
-- proxy rewriting the registry's own Link ("link" rule).
local registry = require "regsh.registry"
local async = require "regsh.async"
local servers = require "support.servers"
local regs = require "support.registry"
local images = require "support.images"
local content = require "support.content"

local COUNT = 1200
local REPOS = 130

describe("registry pagination", function()
  local reg, fp, digests

  local function tag(i) return images.tag_name(i, COUNT) end

  local function check_all_once(list, count, name_of)
    assert.equal(count, #list)
    local seen = {}
    for _, e in ipairs(list) do
      local name = name_of(e)
      assert.is_nil(seen[name], "listed twice: " .. name)
      seen[name] = true
    end
    return seen
  end

  setup(function()
    reg = regs.start{}
    digests = images.seed_tags(reg.url, "many", COUNT, 4)
    -- 130 repositories, each made by mounting one blob (a catalog entry each)
    local _, m = servers.curl("GET", reg.url .. "/v2/many/manifests/" .. tag(0), nil,
      {"Accept: " .. content.OCI_MANIFEST})
    local layer = m.layers[1].digest
    local cfg = os.tmpname()
    local f = assert(io.open(cfg, "w"))
    for i = 1, REPOS do
      f:write(string.format('url = "%s/v2/cat/r%03d/blobs/uploads/?mount=%s&from=many"\n'
        .. 'request = "POST"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n%s',
        reg.url, i, layer, i < REPOS and "next\n" or ""))
    end
    f:close()
    local out = servers.sh("curl -sS --parallel --parallel-max 8 -K " .. cfg .. " 2>&1")
    os.remove(cfg)
    local _, created = out:gsub("201", "")
    assert.equal(REPOS, created, "mounting blobs to make repositories failed: " .. out)
    fp = servers.fault_proxy(reg.url)
    fp:paginate("relative")
  end)

  teardown(function()
    servers.stop(fp)
    regs.stop(reg)
  end)

  before_each(function()
    fp:clear()
    fp:paginate("relative")
  end)

  it("lists 1,200 tags with page_size 50, each exactly once", function()
    local r = registry.open(fp.host, {page_size = 50})
    local tags = assert(r:tags("many"))
    local seen = check_all_once(tags, COUNT, function(e) return e.name end)
    for i = 0, COUNT - 1 do assert.is_true(seen[tag(i)], tag(i)) end
    local pages = fp:log("^/v2/many/tags/list")
    assert.is_true(#pages >= COUNT / 50 and #pages <= COUNT / 50 + 1,
      #pages .. " page requests for " .. COUNT .. " tags by 50")
    for _, p in ipairs(pages) do assert.matches("n=50", p.path, 1, true) end
  end)

  it("follows Link when the registry caps n below page_size", function()
    fp:paginate("relative", 30)
    local r = registry.open(fp.host, {page_size = 50})
    check_all_once(assert(r:tags("many")), COUNT, function(e) return e.name end)
    assert.equal(COUNT / 30, #fp:log("^/v2/many/tags/list"))
  end)

  it("lists every tag from a registry that ignores n (distribution 2.8 itself)", function()
    local r = registry.open(reg.host, {page_size = 50})
    check_all_once(assert(r:tags("many")), COUNT, function(e) return e.name end)
  end)

  it("follows relative Link headers", function()
    local hdr = servers.sh("curl -s -D - -o /dev/null '" .. fp.url .. "/v2/many/tags/list?n=50'")
    assert.matches("\n[Ll]ink: </v2/many/tags/list%?", hdr)
    fp:clear()
    local r = registry.open(fp.host, {page_size = 50})
    check_all_once(assert(r:tags("many")), COUNT, function(e) return e.name end)
  end)

  it("follows absolute Link headers", function()
    fp:paginate("absolute")
    local hdr = servers.sh("curl -s -D - -o /dev/null '" .. fp.url .. "/v2/many/tags/list?n=50'")
    assert.matches("\n[Ll]ink: <http://" .. fp.host:gsub("%p", "%%%0") .. "/v2/many/tags/list%?", hdr)
    fp:clear()
    local r = registry.open(fp.host, {page_size = 50})
    check_all_once(assert(r:tags("many")), COUNT, function(e) return e.name end)
    assert.equal(COUNT / 50, #fp:log("^/v2/many/tags/list"))
  end)

  it("follows the catalog's absolute Link headers (rewritten by the proxy)", function()
    fp:add{action = "link", form = "absolute", match = "^/v2/_catalog", times = -1}
    local hdr = servers.sh("curl -s -D - -o /dev/null '" .. fp.url .. "/v2/_catalog?n=50'")
    assert.matches("\n[Ll]ink: <http://" .. fp.host:gsub("%p", "%%%0") .. "/v2/_catalog%?", hdr)
    fp:clear()
    fp:add{action = "link", form = "absolute", match = "^/v2/_catalog", times = -1}
    local r = registry.open(fp.host, {page_size = 50})
    check_all_once(assert(r:repositories()), REPOS + 1, function(e) return e end)
    local pages = fp:log("^/v2/_catalog")
    assert.is_true(#pages >= 3)
    for _, p in ipairs(pages) do assert.equal("link", p.action) end
  end)

  it("iterates tags page by page with each_tag", function()
    local r = registry.open(fp.host, {page_size = 50})
    local it = r:each_tag("many")
    local first = it()
    assert.is_table(first)
    assert.is_true(#fp:log("^/v2/many/tags/list") <= 2,
      "each_tag fetched more than the first page before yielding the first tag")
    local n, seen = 1, {[first.name] = true}
    for t in it do
      assert.is_nil(seen[t.name], "twice: " .. t.name)
      seen[t.name] = true
      n = n + 1
    end
    assert.equal(COUNT, n)
  end)

  it("lists 130 repositories with page_size 50 (relative Links), and filters them by pattern", function()
    local hdr = servers.sh("curl -s -D - -o /dev/null '" .. fp.url .. "/v2/_catalog?n=50'")
    assert.matches("\n[Ll]ink: </v2/_catalog%?", hdr)
    local r = registry.open(fp.host, {page_size = 50})
    local repos = assert(r:repositories())
    local seen = check_all_once(repos, REPOS + 1, function(e) return e end)
    assert.is_true(seen.many)
    assert.is_true(seen["cat/r001"] and seen["cat/r130"])
    assert.is_true(#fp:log("^/v2/_catalog") >= 3)
    local some = assert(r:repositories("^cat/r1[0-2]"))
    assert.equal(30, #some)  -- r100..r129
    local n = 0
    for name in r:each_repository("^cat/") do
      assert.matches("^cat/r%d%d%d$", name)
      n = n + 1
    end
    assert.equal(REPOS, n)
  end)

  it("HEADs all 1,200 tags with concurrency 8, gets every digest right and never has more"
     .. " than 8 requests in flight", function()
    local r = registry.open(fp.host, {page_size = 100, concurrency = 8})
    local tags = assert(r:tags("many"))
    fp:clear()
    local fns = {}
    for i, t in ipairs(tags) do
      fns[i] = function() return assert(r:head("many", t.name)).digest end
    end
    -- 64 tasks at once: the client's own limit (8) is what keeps requests in flight down
    local results = async.gather(fns, {concurrency = 64})
    for i, t in ipairs(tags) do
      local index = tonumber(t.name:match("%d+"))
      assert.equal(digests[index % #digests + 1], results[i], t.name)
    end
    -- the proxy counts requests received and not yet answered
    local log = fp:log("^/v2/many/manifests/")
    assert.equal(COUNT, #log)
    local most = 0
    for _, e in ipairs(log) do most = math.max(most, e.inflight) end
    assert.is_true(most > 1, "the HEADs went one at a time")
    assert.is_true(most <= 8,
      string.format("%d requests were in flight at once, with concurrency 8", most))
  end)
end)
