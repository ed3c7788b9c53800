-- The sha256-<hex> fallback index under concurrent pushes and deletes, on a
-- real docker-registry (distribution 2.8 has no referrers API, so the client
-- keeps the index): every referrer pushed at once is listed, every one
-- deleted at once is gone.
local registry = require "regsh.registry"
local async = require "regsh.async"
local regs = require "support.registry"
local content = require "support.content"

local COUNT = 8

describe("the referrers fallback index under concurrency", function()
  local reg, client

  setup(function()
    reg = regs.start{}
    client = assert(registry.open(reg.host, {log = function() end}))
  end)

  teardown(function() regs.stop(reg) end)

  it("keeps every referrer pushed concurrently, and forgets every one deleted concurrently",
    function()
      local d, raw = assert(content.push_image(client, "race/app", "v1"))
      local subject = {mediaType = content.OCI_MANIFEST, digest = d, size = #raw}
      -- the artifacts share one config blob; distribution 2.8 can lose the
      -- repository link of a blob uploaded by 8 sessions at once (the manifest
      -- put then fails MANIFEST_BLOB_UNKNOWN), which is not what this tests
      assert(client:blob_upload("race/app", "{}"))
      local jobs = {}
      for i = 1, COUNT do
        jobs[i] = function()
          return assert(content.push_artifact(client, "race/app", subject,
            "application/vnd.example.signature", "signature " .. i))
        end
      end
      local pushed = async.gather(jobs)
      local listed = assert(client:referrers("race/app", d))
      assert.equal(COUNT, #listed)
      local seen = content.count_by(listed, "digest")
      for _, p in ipairs(pushed) do assert.equal(1, seen[p], p) end

      local deletes = {}
      for i, p in ipairs(pushed) do
        deletes[i] = function() return assert(client:delete("race/app", p, {subject = d})) end
      end
      async.gather(deletes)
      assert.same({}, assert(client:referrers("race/app", d)))
    end)
end)
