-- Module state that must outlive a second load of its module: busted (and a
-- script that clears package.loaded) loads a module again, and objects made
-- through the first load must keep working with the second. Each module keeps
-- such state in the Lua registry, once per Lua state.

-- Load module `name` again (as a fresh require would), run fn(old, new), and
-- put the first load back so later specs see what they required.
local function with_reload(name, fn)
  local old = require(name)
  package.loaded[name] = nil
  local ok, err = pcall(function() fn(old, require(name)) end)
  package.loaded[name] = old
  if not ok then error(err, 0) end
end

describe("a module loaded again", function()
  it("regsh.registry.redact still scrubs a secret made before", function()
    with_reload("regsh.registry.redact", function(old, new)
      local secret = old.secret("made-before-the-reload")
      assert.are_not.equal(old, new)
      assert.is_true(new.is_secret(secret))
      assert.equal("made-before-the-reload", new.reveal(secret))
      assert.equal("token <redacted> leaked",
        new.text("token made-before-the-reload leaked", {secret}))
      -- and the other way round: one class of secrets
      assert.equal(getmetatable(old.secret("x")), getmetatable(new.secret("made-after")))
    end)
  end)

  it("regsh.proc still delivers the lines of a process started before", function()
    with_reload("regsh.proc", function(old, new)
      local lines = {}
      local p = assert(old.spawn{"sh", "-c", "echo one; echo two",
        on_stdout = function(line) lines[#lines + 1] = line end})
      assert.are_not.equal(old, new)
      local result = p:wait()
      assert.is_true(result.ok)
      assert.same({"one", "two"}, lines)
      p:close()
    end)
  end)

  it("regsh.async is the same scheduler", function()
    with_reload("regsh.async", function(old, new)
      assert.equal(old, new)
    end)
  end)
end)
