-- regsh.core.archive (src/archive.c): tar archives made here with the `tar`
-- program (and Python's tarfile for entries tar will not write) are
-- extracted, listed and refused; packs are byte-for-byte deterministic.
local archive = require "regsh.core.archive"
local fs = require "regsh.fs"
local proc = require "regsh.proc"

local function sh(script, cwd)
  local r = assert(proc.run{"sh", "-c", script, cwd = cwd})
  assert(r.ok, script .. ": " .. r.stderr)
  return r.stdout
end

local function write(path, content)
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
end

-- a tar built by Python's tarfile from entries {name, type, target}
local function python_tar(path, entries)
  local lines = {"import tarfile, io", "t = tarfile.open(" .. string.format("%q", path) .. ", 'w')"}
  for _, e in ipairs(entries) do
    lines[#lines + 1] = string.format("i = tarfile.TarInfo(%q)", e[1])
    if e[2] == "file" then
      lines[#lines + 1] = "i.size = 2; t.addfile(i, io.BytesIO(b'hi'))"
    else
      lines[#lines + 1] = "i.type = tarfile." .. e[2]
      if e[3] then lines[#lines + 1] = string.format("i.linkname = %q", e[3]) end
      lines[#lines + 1] = "t.addfile(i)"
    end
  end
  lines[#lines + 1] = "t.close()"
  local r = assert(proc.run{"python3", "-c", table.concat(lines, "\n")})
  assert(r.ok, r.stderr)
end

describe("regsh.core.archive", function()
  local dir, src, out

  before_each(function()
    dir = assert(fs.temp_dir("archive-spec"))
    src, out = dir .. "/src", dir .. "/out"
    assert(fs.mkdir(src .. "/sub/deep"))
    assert(fs.mkdir(out))
    write(src .. "/a.txt", "alpha\n")
    write(src .. "/sub/deep/b.sh", "#!/bin/sh\necho b\n")
    sh("chmod 755 sub/deep/b.sh && ln -s deep/b.sh sub/run", src)
  end)
  after_each(function() assert(fs.remove_tree(dir)) end)

  for _, c in ipairs({{"tar", ""}, {"tar.gz", "z"}, {"tar.bz2", "j"}, {"tar.xz", "J"}}) do
    it("extracts a " .. c[1] .. " made by tar, modes and links kept", function()
      local path = dir .. "/ctx." .. c[1]
      sh("tar -c" .. c[2] .. "f " .. path .. " -C " .. src .. " .")
      local got = assert(archive.extract(path, out))
      assert.equal(6 + 17, got.bytes)
      assert.equal(5, got.entries)   -- a.txt, sub, sub/deep, sub/deep/b.sh, sub/run (not ".")
      assert.equal("alpha\n", fs.read_file(out .. "/a.txt"))
      assert.equal(tonumber("755", 8), fs.stat(out .. "/sub/deep/b.sh").mode)
      assert.equal("link", fs.lstat(out .. "/sub/run").type)
      assert.equal("#!/bin/sh\necho b\n", fs.read_file(out .. "/sub/run"))
    end)
  end

  it("lists entry names in order and strips leading components", function()
    local path = dir .. "/ctx.tgz"
    sh("tar -czf " .. path .. " -C " .. dir .. " src/a.txt src/sub/deep/b.sh")
    assert.same({"src/a.txt", "src/sub/deep/b.sh"}, archive.list(path))
    local got = assert(archive.extract(path, out, {strip = 1}))
    assert.equal(2, got.entries)
    assert.equal("alpha\n", fs.read_file(out .. "/a.txt"))
    assert.equal("directory", fs.stat(out .. "/sub/deep").type)
  end)

  it("fails on what is no archive, and on a missing file, naming it", function()
    local junk = dir .. "/junk.tar"
    write(junk, "<html>not a tarball</html>\n")
    local ok, err, code = archive.extract(junk, out)
    assert.is_nil(ok)
    assert.equal("EARCHIVE", code)
    assert.matches("^EARCHIVE: " .. junk:gsub("%p", "%%%0") .. ": ", err)
    assert.equal("EARCHIVE", select(3, archive.list(junk)))
    assert.equal("ENOENT", select(3, archive.extract(dir .. "/none.tar", out)))
    assert.equal("ENOENT", select(3, archive.extract(src .. "/../missing.tar", out)))
    local path = dir .. "/ok.tar"
    sh("tar -cf " .. path .. " -C " .. src .. " a.txt")
    assert.equal("ENOENT", select(3, archive.extract(path, dir .. "/no/dest")))
    assert.same({}, fs.readdir(out))
  end)

  it("stops at max_entries and max_bytes with ETOOBIG", function()
    local path = dir .. "/ctx.tar"
    sh("tar -cf " .. path .. " -C " .. src .. " .")
    local ok, err, code = archive.extract(path, out, {max_entries = 3})
    assert.is_nil(ok)
    assert.equal("ETOOBIG", code)
    assert.matches("max_entries %(3%)", err)
    assert(fs.remove_tree(out) and fs.mkdir(out))
    assert.equal("ETOOBIG", select(3, archive.extract(path, out, {max_bytes = 10})))
    assert(archive.extract(path, out, {max_bytes = 23, max_entries = 6}))
    assert.has_error(function() archive.extract(path, out, {max_entry = 1}) end)
    assert.has_error(function() archive.extract(path, out, {strip = -1}) end)
  end)

  describe("refuses unsafe entries, writing nothing outside", function()
    -- dir/out is the destination; nothing may appear in dir/ beside it
    local function refused(path, pattern)
      local ok, err, code = archive.extract(path, out)
      assert.is_nil(ok)
      assert.equal("EARCHIVE", code)
      assert.matches(pattern, err)
      local names = assert(fs.readdir(dir))
      table.sort(names)
      assert.same({"bad.tar", "out", "src"}, names)
      assert.is_nil(fs.lstat("/tmp/regsh-archive-spec-evil"))
    end

    it("a path with '..' (tar -P keeps it)", function()
      write(dir .. "/evil", "x")
      sh("tar -P -cf bad.tar src/../evil && rm evil", dir)
      refused(dir .. "/bad.tar", "unsafe entry 'src/%.%./evil': an absolute path or '%.%.'")
    end)

    it("an absolute path", function()
      write("/tmp/regsh-archive-spec-evil", "x")
      sh("tar -P -cf bad.tar /tmp/regsh-archive-spec-evil && rm /tmp/regsh-archive-spec-evil", dir)
      refused(dir .. "/bad.tar", "unsafe entry '/tmp/regsh%-archive%-spec%-evil'")
    end)

    it("symbolic links that lead outside, absolute or by '..'", function()
      sh("ln -s /etc/passwd src/pw && tar -cf bad.tar -C src pw", dir)
      refused(dir .. "/bad.tar", "unsafe entry 'pw': a symbolic link that leads outside")
      sh("rm bad.tar src/pw && ln -s ../../.. src/sub/up && tar -cf bad.tar -C src sub/up", dir)
      refused(dir .. "/bad.tar", "unsafe entry 'sub/up'")
    end)

    it("a chain of links that only leads outside on disk", function()
      -- a/b/l -> ../.. is the top; x -> a/b/l/.. reads as a/b lexically,
      -- but on disk it is the directory above the top
      python_tar(dir .. "/bad.tar", {{"a/b/l", "SYMTYPE", "../.."}, {"x", "SYMTYPE", "a/b/l/.."}})
      refused(dir .. "/bad.tar", "unsafe entry 'x': a symbolic link that leads outside")
      assert.is_nil(fs.lstat(out .. "/x"))
    end)

    it("writing through a link, hard links outside, devices and FIFOs", function()
      python_tar(dir .. "/bad.tar", {{"l", "SYMTYPE", "sub"}, {"sub", "DIRTYPE"}, {"l/f", "file"}})
      refused(dir .. "/bad.tar", "")
      assert.is_nil(fs.lstat(out .. "/sub/f"))
      assert(fs.remove_tree(out) and fs.mkdir(out))
      python_tar(dir .. "/bad.tar", {{"h", "LNKTYPE", "../src/a.txt"}})
      refused(dir .. "/bad.tar", "unsafe entry 'h': a hard link to '%.%./src/a%.txt'")
      python_tar(dir .. "/bad.tar", {{"l", "SYMTYPE", "."}, {"h", "LNKTYPE", "l/x"}})
      refused(dir .. "/bad.tar", "unsafe entry 'h': a hard link")
      python_tar(dir .. "/bad.tar", {{"null", "CHRTYPE"}})
      refused(dir .. "/bad.tar", "unsafe entry 'null': a device, FIFO or socket")
      python_tar(dir .. "/bad.tar", {{"pipe", "FIFOTYPE"}})
      refused(dir .. "/bad.tar", "unsafe entry 'pipe': a device, FIFO or socket")
    end)

    it("but keeps hard links and links that stay inside", function()
      python_tar(dir .. "/bad.tar", {{"f", "file"}, {"d/h", "LNKTYPE", "f"}, {"d/up", "SYMTYPE", "../f"}})
      assert(archive.extract(dir .. "/bad.tar", out))
      assert.equal("hi", fs.read_file(out .. "/d/h"))
      assert.equal("hi", fs.read_file(out .. "/d/up"))
    end)
  end)

  describe("pack", function()
    local files = {"sub", "sub/deep", "sub/deep/b.sh", "a.txt", "sub/run"}

    it("writes the files in the order given, with mtime 0 and owner 0:0", function()
      local path = dir .. "/p.tar"
      assert.is_true(archive.pack(src, files, path))
      -- (a directory's name gets a '/' in the archive)
      assert.same({"sub/", "sub/deep/", "sub/deep/b.sh", "a.txt", "sub/run"}, archive.list(path))
      local listing = sh("tar -tvf " .. path .. " --numeric-owner")
      assert.matches("^drwx", listing)
      assert.matches("%-rwxr%-xr%-x 0/0 +17 1970%-01%-01 00:00 sub/deep/b%.sh", listing)
      assert.matches("lrwxrwxrwx 0/0 +0 1970%-01%-01 00:00 sub/run %-> deep/b%.sh", listing)
      assert(archive.extract(path, out))
      assert.equal("#!/bin/sh\necho b\n", fs.read_file(out .. "/sub/run"))
    end)

    it("gives the same bytes for the same tree, gzip header without a time", function()
      local one, two = dir .. "/1.tgz", dir .. "/2.tgz"
      assert(archive.pack(src, files, one, {gzip = true}))
      sh("touch -d 2001-01-01 a.txt", src)
      assert(archive.pack(src, files, two, {gzip = true}))
      local bytes = fs.read_file(one)
      assert.equal(bytes, fs.read_file(two))
      assert.equal("\31\139", bytes:sub(1, 2))
      assert.equal("\0\0\0\0", bytes:sub(5, 8))  -- MTIME of the gzip member
      assert.equal("a.txt", archive.list(one)[4])
    end)

    it("fails on a missing file or a FIFO and leaves no file; raises on unsafe names", function()
      local path = dir .. "/p.tar"
      local ok, err, code = archive.pack(src, {"a.txt", "nope"}, path)
      assert.is_nil(ok)
      assert.equal("ENOENT", code)
      assert.matches("src/nope", err)
      assert.is_nil(fs.stat(path))
      sh("mkfifo fifo", src)
      assert.equal("EARCHIVE", select(3, archive.pack(src, {"fifo"}, path)))
      assert.has_error(function() archive.pack(src, {"../x"}, path) end)
      assert.has_error(function() archive.pack(src, {"/etc/passwd"}, path) end)
      assert.has_error(function() archive.pack(src, {"a//b"}, path) end)
      assert.has_error(function() archive.pack(src, {1}, path) end)
      assert.has_error(function() archive.pack(src, {}, path, {zip = true}) end)
    end)
  end)
end)
