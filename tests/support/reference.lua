-- tests/support/reference.lua: run every ```lua block of a docs/reference
-- page, in order, as the page promises; returns how many ran.
return function(page)
  local f = assert(io.open("docs/reference/" .. page))
  local doc = f:read("a")
  f:close()
  local n = 0
  for block in doc:gmatch("```lua\n(.-)```") do
    n = n + 1
    assert(load(block, "=" .. page .. " example " .. n, "t"))()
  end
  return n
end
