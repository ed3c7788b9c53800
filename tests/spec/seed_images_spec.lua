-- scripts/seed-images: the stand-in images of the task recipes, built with
-- podman from busybox-static, behave like the images they stand in for, are
-- found by their short names without a pull, and can be pushed.
local cmd = require "support.cmd"
local images = require "support.images"
local registry = require "support.registry"

local conf = os.getenv("CONTAINERS_CONF") or "/tmp/regsh-test-cache/containers.conf"

local function sh(line)
  return cmd.sh("CONTAINERS_CONF=" .. cmd.quote(conf) .. " " .. line)
end

-- podman run --pull=never: a stand-in that is missing fails instead of pulling
local function run(args)
  return sh("podman run --rm --pull=never " .. args)
end

describe("scripts/seed-images #podman", function()
  lazy_setup(function()
    images.require_podman()
    local out, status, err = sh("scripts/seed-images")
    assert(status == 0, "seed-images failed: " .. out .. err)
  end)

  it("does nothing the second time (the content label matches)", function()
    local out, status, err = sh("scripts/seed-images")
    assert.equal(0, status, err)
    assert.equal("", out)
  end)

  it("tags every image with its docker.io name, found by the short name", function()
    for short, full in pairs({
      ["nginx:alpine"] = "docker.io/library/nginx:alpine",
      ["byrnedo/alpine-curl"] = "docker.io/byrnedo/alpine-curl:latest",
      ["bash"] = "docker.io/library/bash:latest",
      ["hello-world"] = "docker.io/library/hello-world:latest",
      ["busybox"] = "docker.io/library/busybox:latest",
    }) do
      local out, status, err = sh("podman image inspect --format '{{index .Labels \"org.regsh.stand-in\"}}' "
        .. cmd.quote(short))
      assert.equal(0, status, short .. ": " .. err)
      assert.equal(full .. "\n", out)
    end
  end)

  it("hello-world prints the greeting", function()
    local out, status, err = run("hello-world")
    assert.equal(0, status, err)
    assert.matches("^Hello from regsh stand%-in", out)
    assert.matches("\nHello from Docker!\n", out)
  end)

  it("bash runs -c strings and scripts like sh", function()
    local out, status, err = run("bash -c 'echo $((6 * 7)) \"$1\"' bash arg")
    assert.equal(0, status, err)
    assert.equal("42 arg\n", out)
    local dir = cmd.sh("mktemp -d /tmp/regsh-seed-spec.XXXXXX"):gsub("%s+$", "")
    local f = assert(io.open(dir .. "/pre.sh", "w"))
    f:write("echo from script; exit 3\n")
    f:close()
    out, status = run("-v " .. cmd.quote(dir) .. ":/workspace -w /workspace bash ./pre.sh")
    cmd.sh("rm -rf " .. cmd.quote(dir))
    assert.equal("from script\n", out)
    assert.equal(3, status)
    out, status = run("busybox echo plain busybox")
    assert.equal(0, status)
    assert.equal("plain busybox\n", out)
  end)

  it("alpine-curl fetches from nginx by its network alias, and fails when the fetch does", function()
    local name = "regsh-seed-spec-" .. registry.pid()
    local _, status, err = sh("podman network create " .. name)
    assert.equal(0, status, err)
    local ok, failure = pcall(function()
      _, status, err = run("-d --name " .. name .. " --network " .. name .. " --network-alias app nginx:alpine")
      assert.equal(0, status, err)
      local out
      -- httpd needs a moment to listen: ask until it answers (bounded by tries, not time)
      for _ = 1, 50 do
        out, status = run("--network " .. name .. " byrnedo/alpine-curl --url http://app:80")
        if status == 0 then break end
      end
      assert.equal(0, status)
      assert.matches("<title>Welcome to nginx!</title>", out, 1, true)
      out, status = run("--network " .. name .. " byrnedo/alpine-curl curl -s -m 5 app")
      assert.equal(0, status)
      assert.matches("Welcome to nginx!", out, 1, true)
      out, status = run("--network " .. name .. " byrnedo/alpine-curl http://app/missing.html")
      assert.equal("", out)
      assert.is_not.equal(0, status)
      _, status = run("--network " .. name .. " byrnedo/alpine-curl --url http://nosuchhost/")
      assert.is_not.equal(0, status)
    end)
    sh("podman rm -f -t 0 " .. name)
    sh("podman network rm -f " .. name)
    assert(ok, failure)
  end)

  it("pushes them with --push to a loopback registry", function()
    local reg = registry.start()
    local ok, failure = pcall(function()
      local out, status, err = sh("scripts/seed-images --push " .. reg.host)
      assert.equal(0, status, err)
      assert.matches("pushed " .. reg.host:gsub("%p", "%%%0") .. "/library/nginx:alpine", out)
      local catalog = cmd.sh("curl -sf " .. reg.url .. "/v2/_catalog")
      for _, repo in ipairs({"library/nginx", "byrnedo/alpine-curl", "library/bash",
        "library/hello-world", "library/busybox"}) do
        assert.matches('"' .. repo .. '"', catalog, 1, true)
      end
      local tags = cmd.sh("curl -sf " .. reg.url .. "/v2/library/nginx/tags/list")
      assert.matches('"alpine"', tags, 1, true)
    end)
    registry.stop(reg)
    assert(ok, failure)
  end)

  it("rejects an unknown argument with one clear line", function()
    local out, status, err = sh("scripts/seed-images --bogus")
    assert.equal("", out)
    assert.equal(1, status)
    assert.equal("seed-images: unknown argument '--bogus' (usage: seed-images [--push REGISTRY])\n", err)
  end)
end)
