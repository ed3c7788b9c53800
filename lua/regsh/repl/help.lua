-- regsh.repl.help: help() at the prompt. The text is the reference docs
-- themselves (docs/reference/*.md, embedded in the binary at build time like
-- lua/), cut into sections at their `###` headings and indexed by the names
-- each heading documents, so help and the reference cannot disagree.
local M = {}

--- The reference pages help reads, in the order help() lists them.
M.PAGES = {
  "registry.md", "purge.md", "purge-policies.md", "async.md", "http.md", "httpd.md", "proc.md",
  "fs.md", "json-yaml.md", "digest.md", "regex.md", "time.md", "log.md", "store.md",
  "errors.md", "task.md", "task-yaml.md", "task-templates.md", "context.md",
  "schedule.md", "cron.md", "cli.md", "repl.md", "image.md", "README.md",
}

local function page_text(page)
  local text = require("regsh.core.host").embedded("docs.reference." .. page)
  if text then return text end
  local dir = os.getenv("REGSH_LUA_PATH")  -- lua/ from disk: the docs beside it
  local f = dir and io.open(dir .. "/../docs/reference/" .. page)
  if not f then return nil end
  text = f:read("a")
  f:close()
  return text
end

-- the names a heading documents: `regsh.registry.open(...)`, `client:tags(...)`
local function heading_names(heading)
  local names = {}
  for name in heading:gmatch("[%a_][%w_]*[.:][%a_][%w_.:]*") do
    names[#names + 1] = (name:gsub("[.:]$", ""))
  end
  return names
end

local index  -- name -> {section...}; pages: page -> {title, intro, sections}

local function build()
  if index then return index end
  index = {names = {}, pages = {}}
  for _, page in ipairs(M.PAGES) do
    local text = page_text(page)
    if text then
      local info = {page = page, sections = {}}
      local current
      local in_code = false
      for line in (text .. "\n"):gmatch("(.-)\n") do
        if line:match("^```") then in_code = not in_code end
        local level, heading = line:match("^(#+)%s+(.*)$")
        if in_code then level = nil end
        if level == "#" and not info.title then
          info.title = heading
          current = {heading = heading, lines = {}}
          info.intro = current
        elseif level and #level <= 3 then
          current = {heading = heading, lines = {}, page = page, level = #level}
          info.sections[#info.sections + 1] = current
          for _, name in ipairs(heading_names(heading)) do
            index.names[name] = index.names[name] or {}
            table.insert(index.names[name], current)
          end
        elseif current then
          current.lines[#current.lines + 1] = line
        end
      end
      index.pages[page] = info
    end
  end
  return index
end

local function section_text(s)
  local body = table.concat(s.lines, "\n"):gsub("^%s+", ""):gsub("%s+$", "")
  return s.heading:gsub("`", "") .. "\n\n" .. body .. "\n"
end

-- the modules to search, by name: package.loaded's and the `regsh` facade's
-- (the facade keeps the module it loaded first, even if it was loaded again)
local function modules()
  local list = {}
  for name, mod in pairs(package.loaded) do
    if type(name) == "string" and name:match("^regsh%.") and not name:match("core")
      and type(mod) == "table" then
      list[#list + 1] = {name, mod}
    end
  end
  local facade = rawget(_G, "regsh")
  if type(facade) == "table" then
    for key, mod in pairs(facade) do
      if type(key) == "string" and type(mod) == "table" then
        list[#list + 1] = {"regsh." .. key, mod}
      end
    end
  end
  return list
end

-- where a value lives: "regsh.registry.open", "client:tags", "regsh.registry"
local function names_of(value)
  local names, seen = {}, {}
  local function add(name)
    if not seen[name] then seen[name] = true; names[#names + 1] = name end
  end
  for _, entry in ipairs(modules()) do
    local modname, mod = entry[1], entry[2]
    if mod == value then add(modname) end
    for k, v in pairs(mod) do
      if v == value and type(k) == "string" then add(modname .. "." .. k) end
    end
    -- a registry module's client class: its methods are client:NAME
    if modname == "regsh.registry" and type(mod.open) == "function" then
      local ok, client = pcall(function() return getmetatable(mod.open("127.0.0.1:1")).__index end)
      if ok and type(client) == "table" then
        if value == client then add("client") end
        for k, v in pairs(client) do
          if v == value then add("client:" .. k) end
        end
      end
    end
  end
  table.sort(names, function(a, b) return #a > #b or (#a == #b and a < b) end)
  return names
end

-- the sections documenting a name, trying shorter spellings
-- (regsh.fs.stat -> fs.stat) as pages write them
local function sections_for(name)
  local idx = build()
  local tries = {name, (name:gsub("^regsh%.", "")), (name:gsub("^regsh%.[%w_]+%.", "")),
                 (name:gsub("^regsh%.[%w_]+%.", "regsh."))}
  for _, n in ipairs(tries) do
    if idx.names[n] then return idx.names[n], n end
  end
  return nil
end

-- a module's page: the one whose title names it
local function module_page(name)
  local idx = build()
  for _, page in ipairs(M.PAGES) do
    local info = idx.pages[page]
    local title = info and info.title or ""
    local s, e = title:find(name, 1, true)
    if s and not title:sub(e + 1, e + 1):match("[%w_.]") then return info end
  end
  return nil
end

local function page_summary(info)
  local out = {info.title:gsub("`", ""), ""}
  local intro = table.concat(info.intro.lines, "\n"):match("^%s*(.-)\n%s*\n") or ""
  out[#out + 1] = intro
  out[#out + 1] = ""
  for _, s in ipairs(info.sections) do
    if s.level == 3 then out[#out + 1] = "  " .. s.heading:gsub("`", "") end
  end
  out[#out + 1] = ""
  out[#out + 1] = "help(f) prints one function's section (docs/reference/" .. info.page .. ")."
  return table.concat(out, "\n") .. "\n"
end

local function overview()
  local idx = build()
  local out = {"regsh: the reference, by page (help(regsh.registry), help(reg.tags), "
    .. "help(\"client:tags\") for one function)", ""}
  for _, page in ipairs(M.PAGES) do
    local info = idx.pages[page]
    if info and info.title then
      out[#out + 1] = string.format("  %-20s %s", page, (info.title:gsub("`", "")))
    end
  end
  out[#out + 1] = ""
  out[#out + 1] = "At the prompt: :load FILE, :plan [POLICY], :apply, :time EXPR, :help, :quit; "
    .. "Tab completes, Ctrl-R searches the history, Ctrl-C cancels the running call."
  return table.concat(out, "\n") .. "\n"
end

--- text(x) -> the help text for x (a function, a module, a client, a name),
--- or nil with a message naming x.
function M.text(x)
  if x == nil then return overview() end
  local names
  if type(x) == "string" then names = {x} else names = names_of(x) end
  for _, name in ipairs(names) do
    local sections = sections_for(name)
    if sections and type(x) ~= "table" then
      local out = {}
      for i, s in ipairs(sections) do out[i] = section_text(s) end
      return table.concat(out, "\n")
    end
    local info = module_page(name == "client" and "regsh.registry" or name)
    if info then return page_summary(info) end
    if sections then return section_text(sections[1]) end
  end
  local mt = getmetatable(x)
  if type(mt) == "table" and mt.__name == "regsh.registry" then
    return page_summary(module_page("regsh.registry"))
  end
  return nil, string.format("no help for %s", type(x) == "string" and x
    or (names[1] or tostring(x)))
end

--- help(x): print the help for x on stdout (a message when there is none).
function M.help(x)
  local text, err = M.text(x)
  io.stdout:write(text or (err .. "; help() lists the reference pages\n"))
end

return M
