-- Deletes and untags, real and dry run, on a real docker-registry (and through
-- tests/support/fault_proxy.py for answers registry:2 never gives: a
-- NAME_UNKNOWN, a proxy's HTML 404). Pins what docs/reference/registry.md
-- promises: only the registry's own "manifest unknown" means already gone;
-- deleting a digest names every tag that goes with it; a dry run does the
-- reads, reports what the real run would do, failures included, and exits
-- with the same status.
local cjson = require "cjson"
local registry = require "regsh.registry"
local servers = require "support.servers"
local content = require "support.content"
local cmd = require "support.cmd"

local ABSENT = "sha256:" .. string.rep("0", 64)

describe("registry deletes", function()
  local reg, fp, client

  setup(function()
    reg, fp = servers.proxied_registry{}
    client = assert(registry.open(reg.host, {log = function() end}))
  end)

  teardown(function() servers.stop_all(fp, reg) end)

  before_each(function() fp:clear() end)

  local function rm(args)
    table.insert(args, 1, "rm")
    return cmd.regsh(args)
  end

  -- An image tagged three times; returns its digest.
  local function image(repo)
    local d = assert(content.push_image(client, repo, "v1", {label = repo}))
    local m = assert(client:manifest(repo, "v1"))
    assert(client:put_manifest(repo, "v2", m.raw, m.media_type))
    assert(client:put_manifest(repo, "stable", m.raw, m.media_type))
    return d
  end

  describe("what a 404 means", function()
    it("fails for a misspelt repository (registry:2 says MANIFEST_UNKNOWN there too)", function()
      image("present/repo")
      local ok, err, code = client:delete("nosuch/repo", ABSENT)
      assert.is_nil(ok)
      assert.equal("ENOTFOUND", code)
      assert.matches("repository", err)
      local out, status, stderr = rm({reg.host .. "/nosuch/repo@" .. ABSENT})
      assert.equal(1, status)
      assert.equal("", out)
      assert.matches("ENOTFOUND", stderr)
      assert.not_matches("deleted", out)
    end)

    it("fails on a NAME_UNKNOWN answer", function()
      fp:add{action = "status", status = 404, method = "DELETE", match = "/manifests/",
             body = '{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]}',
             times = -1}
      local d = image("named/repo")
      local r = assert(registry.open(fp.host, {log = function() end}))
      local ok, err, code = r:delete("named/repo", d)
      assert.is_nil(ok)
      assert.equal("ENOTFOUND", code)
      assert.matches("NAME_UNKNOWN", err)
      assert.equal(d, assert(client:head("named/repo", "v1")).digest)
    end)

    it("fails on a proxy's HTML 404 page, real and dry run", function()
      fp:add{action = "status", status = 404, match = "/manifests/", times = -1,
             content_type = "text/html", body = "<html><body><h1>404 Not Found</h1></body></html>"}
      image("html/repo")
      local target = fp.host .. "/html/repo@" .. ABSENT
      local out, status, stderr = rm({target})
      assert.equal(1, status)
      assert.not_matches("deleted", out)
      assert.matches("EPROTO", stderr)
      local _, dry_status, dry_err = rm({target, "--dry-run"})
      assert.equal(1, dry_status)
      assert.matches("EPROTO", dry_err)
    end)

    it("treats the registry's own MANIFEST_UNKNOWN as already gone", function()
      local d = image("gone/repo")
      assert(client:delete("gone/repo", d))
      local ok, deleted = client:delete("gone/repo", d)
      assert.is_true(ok)
      assert.is_false(deleted)
      local out, status = rm({reg.host .. "/gone/repo@" .. d})
      assert.equal(0, status)
      assert.matches("already gone", out)
      local dry_out, dry_status = rm({reg.host .. "/gone/repo@" .. d, "--dry-run"})
      assert.equal(0, dry_status)
      assert.matches("already gone", dry_out)
    end)
  end)

  describe("deleting a digest names the tags that go with it", function()
    it("in the dry run's plan, text and JSON, and leaves them", function()
      local d = image("tagged/app")
      local out, status = rm({reg.host .. "/tagged/app:v1", "--manifest", "--dry-run"})
      assert.equal(0, status)
      assert.matches("would delete " .. reg.host .. "/tagged/app@" .. d, out, 1, true)
      for _, t in ipairs({"v1", "v2", "stable"}) do assert.matches(t, out) end
      local json_out, json_status = rm({reg.host .. "/tagged/app@" .. d, "-n", "-o", "json"})
      assert.equal(0, json_status)
      local result = cjson.decode(json_out)
      table.sort(result.tags)
      assert.same({"stable", "v1", "v2"}, result.tags)
      assert.is_true(result.dry_run)
      assert.is_false(result.deleted)
      assert.equal(d, assert(client:head("tagged/app", "stable")).digest)
    end)

    it("in the real run's output, text and JSON", function()
      local d = image("tagged/web")
      local out, status = rm({reg.host .. "/tagged/web:v2", "--manifest"})
      assert.equal(0, status)
      assert.matches("deleted " .. reg.host .. "/tagged/web@" .. d, out, 1, true)
      for _, t in ipairs({"v1", "v2", "stable"}) do assert.matches(t, out) end
      local _, _, code = client:head("tagged/web", "stable")
      assert.equal("ENOTFOUND", code)
      local d2 = image("tagged/api")
      local json_out = rm({reg.host .. "/tagged/api@" .. d2, "-o", "json"})
      local result = cjson.decode(json_out)
      table.sort(result.tags)
      assert.same({"stable", "v1", "v2"}, result.tags)
      assert.is_true(result.deleted)
    end)
  end)

  describe("a dry run reports what the real run would do", function()
    it("says 'would untag' for one tag of a shared digest, which the real run untags", function()
      local d = image("untag/app")
      local target = reg.host .. "/untag/app:v2"
      local dry_out, dry_status, dry_err = rm({target, "--dry-run"})
      assert.equal(0, dry_status, dry_err)
      assert.equal("would untag " .. target .. "\n", dry_out)
      assert.equal(d, assert(client:head("untag/app", "v2")).digest)
      local out, status, err = rm({target})
      assert.equal(0, status, err)
      assert.equal("untagged " .. target .. "\n", out)
      assert.equal("ENOTFOUND", select(3, client:head("untag/app", "v2")))
      assert.equal(d, assert(client:head("untag/app", "stable")).digest)
    end)

    it("fails for a tag that does not exist, as the real run does", function()
      image("notag/app")
      local target = reg.host .. "/notag/app:nope"
      local _, status, err = rm({target, "--manifest"})
      local dry_out, dry_status, dry_err = rm({target, "--manifest", "--dry-run"})
      assert.equal(1, status)
      assert.equal(1, dry_status)
      assert.matches("ENOTFOUND", err)
      assert.matches("ENOTFOUND", dry_err)
      assert.not_matches("would", dry_out)
      -- without --manifest, an absent tag is already gone, in both
      local untag_out, untag_status = rm({target})
      local dry_untag_out, dry_untag_status = rm({target, "--dry-run"})
      assert.equal(0, untag_status)
      assert.equal(0, dry_untag_status)
      assert.matches("already gone", untag_out)
      assert.matches("already gone", dry_untag_out)
    end)

    it("does not say 'would delete' for a digest that does not exist", function()
      image("nodigest/app")
      local dry_out, dry_status = rm({reg.host .. "/nodigest/app@" .. ABSENT, "--dry-run"})
      local out, status = rm({reg.host .. "/nodigest/app@" .. ABSENT})
      assert.equal(status, dry_status)
      assert.equal(0, status)
      assert.not_matches("would delete", dry_out)
      assert.matches("already gone", dry_out)
      assert.matches("already gone", out)
    end)

    it("in the library: delete of an absent digest is true, false, also in dry run", function()
      image("lib/app")
      local dry = assert(registry.open(reg.host, {dry_run = true, log = function() end}))
      local ok, deleted = dry:delete("lib/app", ABSENT)
      assert.is_true(ok)
      assert.is_false(deleted)
      local _, _, code = dry:delete("no/such/repository", ABSENT)
      assert.equal("ENOTFOUND", code)
      local d = assert(client:head("lib/app", "v1")).digest
      local none, message
      none, message, code = dry:delete("lib/app", d)
      assert.is_nil(none)
      assert.equal("EDRYRUN", code)
      assert.matches("would delete", message)
    end)
  end)
end)
