-- regsh.task.template: the Go text/template subset ACR task files use
-- ({{.Run.ID | upper}}, if/range/with, variables, Sprig functions), parsed
-- once by a lexer and a recursive-descent parser, rendered many times.
-- Values, printing and the functions live in regsh.task.template_funcs.
local funcs = require("regsh.task.template_funcs")

local M = {}

local concat, format = table.concat, string.format
local fail, Failure, is_nil = funcs.fail, funcs.Failure, funcs.is_nil

local MAX_DEPTH = 100                  -- nesting of parentheses and blocks
local MAX_OUTPUT = 64 * 1024 * 1024    -- bytes one render may produce

-- A failure that carries its own line (parse errors, runtime errors whose
-- node is known).
local function fail_at(line, fmt, ...)
  error(setmetatable({message = format(fmt, ...), line = line}, Failure), 0)
end

-- {{{ lexer: the text becomes a flat list of tokens; text between actions
-- is one "text" token, {{ and }} are "open"/"close", trim markers and
-- comments are resolved here.

local keywords = {["if"] = true, ["else"] = true, ["end"] = true, range = true, with = true,
  define = true, template = true, block = true, ["break"] = true, continue = true,
  ["nil"] = true, ["true"] = true, ["false"] = true}

local escapes = {a = "\a", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", v = "\v",
  ["\\"] = "\\", ['"'] = '"', ["'"] = "'"}

-- Go's interpreted string/char escapes; returns the value and the index after.
local function unquote(src, i, quote, line)
  local out = {}
  i = i + 1
  while true do
    local c = src:sub(i, i)
    if c == "" or c == "\n" then fail_at(line, "unterminated quoted string") end
    if c == quote then return concat(out), i + 1 end
    if c == "\\" then
      local e = src:sub(i + 1, i + 1)
      if escapes[e] then
        out[#out + 1] = escapes[e]
        i = i + 2
      elseif e == "x" or e == "u" or e == "U" then
        local n = e == "x" and 2 or e == "u" and 4 or 8
        local hex = src:sub(i + 2, i + 1 + n)
        if #hex ~= n or hex:find("%X") then fail_at(line, "invalid syntax in quoted string") end
        local cp = tonumber(hex, 16)
        if e == "x" then out[#out + 1] = string.char(cp)
        elseif cp > 0x10ffff or (cp >= 0xd800 and cp <= 0xdfff) then
          fail_at(line, "invalid syntax in quoted string")
        else out[#out + 1] = utf8.char(cp) end
        i = i + 2 + n
      elseif e:find("[0-7]") then
        local oct = src:sub(i + 1, i + 3)
        if not oct:find("^[0-7][0-7][0-7]$") or tonumber(oct, 8) > 255 then
          fail_at(line, "invalid syntax in quoted string")
        end
        out[#out + 1] = string.char(tonumber(oct, 8))
        i = i + 4
      else
        fail_at(line, "invalid syntax in quoted string")
      end
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
end

local function number_value(s, line)
  local clean = s:gsub("_", "")
  local v
  if clean:find("^[+-]?0[0-7]+$") then
    v = tonumber(clean:gsub("^([+-]?)0", "%1"), 8)
  elseif clean:find("^[+-]?0[xX]") then
    v = math.tointeger(tonumber(clean))
  elseif clean:find("[.eE]") then
    v = tonumber(clean)
    if v then v = v + 0.0 end
  else
    v = math.tointeger(tonumber(clean))
  end
  if v == nil then fail_at(line, "bad number syntax: %q", s) end
  return v
end

local function lex(src)
  local tokens, i, n, line = {}, 1, #src, 1
  local trim_next = false
  local function add(tok) tokens[#tokens + 1] = tok; return tok end
  while i <= n do
    -- text up to the next {{
    local open = src:find("{{", i, true)
    local chunk = src:sub(i, (open or n + 1) - 1)
    local trim_left = open and src:find("^%-[ \t\r\n]", open + 2) ~= nil
    if trim_next then chunk = chunk:gsub("^[ \t\r\n]+", "") end
    if trim_left then chunk = chunk:gsub("[ \t\r\n]+$", "") end
    if chunk ~= "" then add({k = "text", v = chunk, line = line}) end
    local _, nl = src:sub(i, (open or n + 1) - 1):gsub("\n", "")
    line = line + nl
    if not open then break end
    local action_line = line
    i = open + 2 + (trim_left and 2 or 0)
    -- a comment is the whole action: {{/* ... */}}
    if src:sub(i, i + 1) == "/*" then
      local stop = src:find("*/", i + 2, true)
      if not stop then fail_at(action_line, "unclosed comment") end
      local _, cl = src:sub(i, stop):gsub("\n", "")
      line = line + cl
      local j = stop + 2
      if src:find("^ %-}}", j) or src:find("^[\t\r\n]%-}}", j) then
        trim_next, i = true, j + 4
      elseif src:sub(j, j + 1) == "}}" then
        trim_next, i = false, j + 2
      else
        fail_at(action_line, "comment ends before closing delimiter")
      end
    else
      add({k = "open", line = line})
      local closed = false
      while i <= n do
        local ws = src:match("^[ \t\r\n]*", i)
        local space = #ws > 0
        if space then
          local _, wl = ws:gsub("\n", "")
          line = line + wl
          i = i + #ws
        end
        local c = src:sub(i, i)
        local tok = {line = line, sp = space, pos = i}
        if space and src:sub(i, i + 2) == "-}}" then
          add({k = "close", line = line})
          trim_next, i, closed = true, i + 3, true
          break
        elseif src:sub(i, i + 1) == "}}" then
          add({k = "close", line = line})
          trim_next, i, closed = false, i + 2, true
          break
        elseif c == "" then
          break
        elseif c == "|" or c == "(" or c == ")" or c == "," or c == "=" then
          tok.k, i = c, i + 1
        elseif src:sub(i, i + 1) == ":=" then
          tok.k, i = ":=", i + 2
        elseif c == '"' then
          tok.k = "string"
          tok.v, i = unquote(src, i, '"', line)
        elseif c == "`" then
          local stop = src:find("`", i + 1, true)
          if not stop then fail_at(line, "unterminated raw quoted string") end
          tok.k, tok.v = "string", src:sub(i + 1, stop - 1)
          local _, rl = tok.v:gsub("\n", "")
          line = line + rl
          i = stop + 1
        elseif c == "'" then
          local v, stop = unquote(src, i, "'", line)
          if utf8.len(v) ~= 1 then fail_at(line, "malformed character constant: %s", src:sub(i, stop - 1)) end
          tok.k, tok.v, i = "number", utf8.codepoint(v), stop
        elseif c == "$" then
          local name = src:match("^%$[%w_]*", i)
          tok.k, tok.v, i = "var", name, i + #name
        elseif c == "." and src:find("^%.[%a_]", i) then
          local name = src:match("^%.([%w_]+)", i)
          tok.k, tok.v, i = "field", name, i + 1 + #name
        elseif src:find("^[+-]?%.?%d", i) then
          local s = src:match("^[+-]?[%d_%.]*[eE][+-]?[%d_]+", i) or src:match("^[+-]?0[xX][%x_]+", i)
            or src:match("^[+-]?[%d_%.]+", i)
          if src:find("^[%w_.]", i + #s) then
            fail_at(line, "bad number syntax: %q", src:match("^[+-]?[%w_.]+", i))
          end
          tok.k, tok.v, i = "number", number_value(s, line), i + #s
        elseif c == "." then
          tok.k, i = "dot", i + 1
        elseif c:find("[%a_]") then
          local word = src:match("^[%w_]+", i)
          tok.k, tok.v, i = keywords[word] and word or "ident", word, i + #word
        else
          fail_at(line, "unexpected %q in command", c)
        end
        tok.stop = i - 1
        add(tok)
      end
      if not closed then fail_at(action_line, "unclosed action") end
    end
  end
  add({k = "eof", line = line})
  return tokens
end

-- }}}

-- {{{ parser: tokens -> a tree of lists of nodes

local Parser = {}
Parser.__index = Parser

function Parser:peek() return self.tokens[self.i] end
function Parser:next()
  local t = self.tokens[self.i]
  self.i = self.i + 1
  return t
end

function Parser:fail(fmt, ...)
  fail_at(self:peek().line, fmt, ...)
end

function Parser:enter()
  self.depth = self.depth + 1
  if self.depth > MAX_DEPTH then self:fail("nesting deeper than %d", MAX_DEPTH) end
end

local function describe(tok)
  if tok.k == "eof" then return "end of input" end
  if tok.k == "close" then return "}}" end
  if tok.k == "string" then return funcs.go_quote(tok.v) end
  return tostring(tok.v or tok.k)
end

function Parser:expect(kind, context)
  local tok = self:next()
  if tok.k ~= kind then
    fail_at(tok.line, "unexpected %s in %s", describe(tok), context)
  end
  return tok
end

function Parser:declared(name)
  for k = #self.vars, 1, -1 do if self.vars[k] == name then return true end end
  return false
end

-- Fields directly after a term ($x.a.b, (pipe).a) chain onto it.
function Parser:chain(node)
  local tok = self:peek()
  if tok.k ~= "field" or tok.sp then return node end
  if node.t ~= "field" and node.t ~= "var" and node.t ~= "pipe" and node.t ~= "dot" then
    self:fail("unexpected . after term %q", node.src)
  end
  local names = node.names or {}
  if node.t == "pipe" or node.t == "dot" then
    node = {t = "chain", node = node, line = node.line, src = node.src}
  end
  node.names = names
  while self:peek().k == "field" and not self:peek().sp do
    local f = self:next()
    names[#names + 1] = f.v
    node.src = node.src .. "." .. f.v
  end
  return node
end

function Parser:operand()
  local tok = self:peek()
  local k = tok.k
  local node
  if k == "field" then
    self:next()
    node = {t = "field", names = {tok.v}, src = "." .. tok.v}
  elseif k == "var" then
    self:next()
    if not self:declared(tok.v) then fail_at(tok.line, "undefined variable %q", tok.v) end
    node = {t = "var", name = tok.v, names = {}, src = tok.v}
  elseif k == "dot" then
    self:next()
    node = {t = "dot", src = "."}
  elseif k == "string" or k == "number" then
    self:next()
    node = {t = "literal", v = tok.v, src = describe(tok)}
  elseif k == "true" or k == "false" then
    self:next()
    node = {t = "literal", v = (k == "true"), src = k}
  elseif k == "nil" then
    self:next()
    node = {t = "nil", src = "nil"}
  elseif k == "ident" then
    self:next()
    if not self.funcs[tok.v] then fail_at(tok.line, "function %q not defined", tok.v) end
    node = {t = "fn", name = tok.v, src = tok.v}
  elseif k == "(" then
    self:next()
    self:enter()
    node = self:pipeline("parenthesized pipeline", ")")
    self.depth = self.depth - 1
    self:expect(")", "parenthesized pipeline")
    node.src = "(" .. (node.src or "") .. ")"
  else
    return nil
  end
  node.line = tok.line
  return self:chain(node)
end

-- pipeline: [decl] command ['|' command]...; ends before `stop` (close or ")")
function Parser:pipeline(context, stop)
  local pipe = {t = "pipe", cmds = {}, line = self:peek().line}
  -- declarations: $x := / $x = / $i, $v := (range only)
  local t1, t2 = self.tokens[self.i], self.tokens[self.i + 1]
  if t1.k == "var" and (t2.k == ":=" or t2.k == "=" or t2.k == ",") then
    local names = {t1.v}
    self.i = self.i + 1
    if t2.k == "," then
      self.i = self.i + 1
      local v2 = self:expect("var", context)
      names[2] = v2.v
      if context ~= "range" then self:fail("too many declarations in %s", context) end
      if self:peek().k ~= ":=" and self:peek().k ~= "=" then self:fail("missing := in %s", context) end
    end
    local op = self:next().k
    pipe.decl, pipe.assign = names, op == "="
    for _, name in ipairs(names) do
      if pipe.assign then
        if not self:declared(name) then self:fail("undefined variable %q", name) end
      else
        self.vars[#self.vars + 1] = name
      end
    end
  end
  local srcs = {}
  while true do
    local cmd = {args = {}, line = self:peek().line}
    while true do
      local node = self:operand()
      if not node then break end
      cmd.args[#cmd.args + 1] = node
    end
    local tok = self:peek()
    if #cmd.args == 0 then
      if tok.k == stop and #pipe.cmds == 0 then break end
      if tok.k == "|" or #pipe.cmds > 0 then self:fail("missing value for command") end
      self:fail("unexpected %s in operand", describe(tok))
    end
    if #pipe.cmds > 0 then
      local first = cmd.args[1].t
      if first == "literal" or first == "nil" or first == "dot" then
        self:fail("non executable command in pipeline stage %d", #pipe.cmds + 1)
      end
    end
    if cmd.args[1].t == "nil" and #cmd.args == 1 and tok.k ~= "|" then
      -- `{{nil}}` alone (Go: "nil is not a command")
      self:fail("nil is not a command")
    end
    pipe.cmds[#pipe.cmds + 1] = cmd
    local parts = {}
    for k, a in ipairs(cmd.args) do parts[k] = a.src end
    srcs[#srcs + 1] = concat(parts, " ")
    if tok.k ~= "|" then break end
    self:next()
  end
  if self:peek().k ~= stop then self:fail("unexpected %s in %s", describe(self:peek()), context) end
  if #pipe.cmds == 0 then self:fail("missing value for %s", context) end
  pipe.src = concat(srcs, " | ")
  return pipe
end

-- list: nodes until {{end}}, {{else}} or EOF; returns the list and the
-- keyword that stopped it.
function Parser:list()
  local nodes = {}
  while true do
    local tok = self:next()
    if tok.k == "eof" then return nodes, "eof", tok end
    if tok.k == "text" then
      nodes[#nodes + 1] = {t = "text", v = tok.v}
    else -- open
      local kw = self:peek()
      if kw.k == "end" or kw.k == "else" then
        self:next()
        return nodes, kw.k, kw
      elseif kw.k == "if" or kw.k == "range" or kw.k == "with" then
        self:next()
        nodes[#nodes + 1] = self:control(kw.k, kw.line)
      elseif kw.k == "break" or kw.k == "continue" then
        self:next()
        if self.loops == 0 then fail_at(kw.line, "{{%s}} outside {{range}}", kw.k) end
        self:expect("close", kw.k)
        nodes[#nodes + 1] = {t = kw.k}
      elseif kw.k == "define" or kw.k == "template" or kw.k == "block" then
        fail_at(kw.line, "{{%s}} is not supported (regsh renders one template)", kw.k)
      else
        local pipe = self:pipeline("command", "close")
        self:expect("close", "command")
        nodes[#nodes + 1] = {t = "action", pipe = pipe, line = kw.line}
      end
    end
  end
end

-- if/range/with: pipeline, list, optional else (or `else if` / `else with`
-- chains, which share the one {{end}}).
function Parser:control(kind, line)
  self:enter()
  local mark = #self.vars
  local pipe = self:pipeline(kind, "close")
  self:expect("close", kind)
  if kind == "range" then self.loops = self.loops + 1 end
  local body, stop, tok = self:list()
  if kind == "range" then self.loops = self.loops - 1 end
  local else_list
  if stop == "eof" then
    fail_at(tok.line, "unexpected EOF")
  elseif stop == "else" then
    local nxt = self:peek()
    if (kind == "if" and nxt.k == "if") or (kind == "with" and nxt.k == "with") then
      self:next()
      else_list = {self:control(nxt.k, nxt.line)}
    else
      self:expect("close", "else")
      local stop2, tok2
      else_list, stop2, tok2 = self:list()
      if stop2 ~= "end" then
        fail_at(tok2.line, stop2 == "eof" and "unexpected EOF" or "expected end; found {{else}}")
      end
      self:expect("close", "end")
    end
  else
    self:expect("close", "end")
  end
  for k = #self.vars, mark + 1, -1 do self.vars[k] = nil end
  self.depth = self.depth - 1
  return {t = kind, pipe = pipe, body = body, else_list = else_list, line = line}
end

-- }}}

-- {{{ executor

local NOFINAL = {}   -- "no piped value" (nil is a value)
local BREAK, CONTINUE = {}, {}

local State = {}
State.__index = State

function State:lookup(name)
  local vars = self.vars
  for k = #vars, 1, -1 do if vars[k][1] == name then return vars[k][2] end end
  return nil
end

function State:assign(name, value)
  local vars = self.vars
  for k = #vars, 1, -1 do
    if vars[k][1] == name then vars[k][2] = value; return end
  end
end

local function fields(v, names)
  for _, name in ipairs(names) do
    if is_nil(v) then fail("nil pointer evaluating interface {}.%s", name) end
    if type(v) ~= "table" or (next(v) ~= nil and funcs.is_array(v)) then
      fail("can't evaluate field %s in type %s", name, funcs.go_type(v))
    end
    v = v[name]
  end
  if v == funcs.null then v = nil end
  return v
end

function State:arg(node, dot)
  local t = node.t
  self.at = node
  if t == "literal" then return node.v
  elseif t == "dot" then return dot
  elseif t == "nil" then return nil
  elseif t == "field" then return fields(dot, node.names)
  elseif t == "var" then return fields(self:lookup(node.name), node.names)
  elseif t == "chain" then return fields(self:arg(node.node, dot), node.names)
  elseif t == "fn" then return self:call(node, {node}, dot, NOFINAL)
  elseif t == "pipe" then return self:pipe(node, dot)
  end
  error("unknown node " .. tostring(t))
end

local function check_type(want, v, name)
  if want == "string" and type(v) ~= "string" then
    fail("wrong type for value; expected string; got %s", funcs.go_type(v))
  elseif want == "int" and math.type(v) ~= "integer" then
    fail("wrong type for value; expected int; got %s", funcs.go_type(v))
  end
  return name
end

-- a function call: args[1] is the function's node, the rest its arguments;
-- the piped value (unless NOFINAL) comes last.
function State:call(fn_node, args, dot, final)
  local name = fn_node.name
  local spec = self.funcs[name]
  local nargs = #args - 1 + (final ~= NOFINAL and 1 or 0)
  if spec.lazy then
    if nargs == 0 then fail("wrong number of args for %s: want at least 1 got 0", name) end
    local thunks = {}
    for k = 2, #args do thunks[#thunks + 1] = function() return self:arg(args[k], dot) end end
    if final ~= NOFINAL then thunks[#thunks + 1] = function() return final end end
    return spec.fn(thunks)
  end
  local values = {}
  for k = 2, #args do values[k - 1] = self:arg(args[k], dot) end
  if final ~= NOFINAL then values[nargs] = final end
  local params = spec.params
  local variadic = params[#params]:sub(1, 3) == "..."
  local fixed = variadic and #params - 1 or #params
  if (variadic and nargs < fixed) or (not variadic and nargs ~= fixed) then
    fail("wrong number of args for %s: want %s%d got %d", name, variadic and "at least " or "",
      fixed, nargs)
  end
  self.at = fn_node
  for k = 1, nargs do
    check_type(k <= fixed and params[k] or params[#params]:sub(4), values[k])
  end
  local ok, result = pcall(spec.fn, table.unpack(values, 1, nargs))
  if not ok then
    local message = getmetatable(result) == Failure and result.message or tostring(result)
    fail("error calling %s: %s", name, message)
  end
  return result
end

function State:command(cmd, dot, final)
  local first = cmd.args[1]
  self.at = first
  if first.t == "fn" then return self:call(first, cmd.args, dot, final) end
  if #cmd.args > 1 or final ~= NOFINAL then
    if first.t == "field" or first.t == "var" or first.t == "chain" then
      fail("%s is not a method but has arguments", first.names[#first.names] or first.src)
    end
    fail("can't give argument to non-function %s", first.src)
  end
  return self:arg(first, dot)
end

function State:pipe(pipe, dot)
  local value = NOFINAL
  for _, cmd in ipairs(pipe.cmds) do value = self:command(cmd, dot, value) end
  if pipe.decl then
    for _, name in ipairs(pipe.decl) do
      if pipe.assign then self:assign(name, value)
      else self.vars[#self.vars + 1] = {name, value} end
    end
  end
  return value
end

function State:emit(s)
  self.size = self.size + #s
  if self.size > MAX_OUTPUT then fail("output larger than %d bytes", MAX_OUTPUT) end
  self.out[#self.out + 1] = s
end

function State:list(nodes, dot)
  for _, node in ipairs(nodes) do
    local signal = self:node(node, dot)
    if signal then return signal end
  end
end

function State:range(node, dot)
  local v = self:pipe(node.pipe, dot)
  local decl = node.pipe.decl
  local mark = #self.vars
  local function one(key, elem)
    if decl then
      if node.pipe.assign then
        self:assign(decl[#decl], elem)
        if #decl > 1 then self:assign(decl[1], key) end
      else
        self.vars[mark][2] = elem
        if #decl > 1 then self.vars[mark - 1][2] = key end
      end
    end
    local signal = self:list(node.body, elem)
    for k = #self.vars, mark + 1, -1 do self.vars[k] = nil end
    return signal == BREAK
  end
  -- Go: ranging over a nil map or slice runs the else branch
  if not is_nil(v) and type(v) ~= "table" then
    fail("range can't iterate over %s", funcs.text(v))
  elseif is_nil(v) then
    v = {}
  end
  if funcs.is_array(v) then
    if #v > 0 then
      for k = 1, #v do if one(k - 1, v[k]) then break end end
      return
    end
  elseif next(v) ~= nil then
    for _, key in ipairs(funcs.sorted_keys(v)) do if one(key, v[key]) then break end end
    return
  end
  if node.else_list then return self:list(node.else_list, dot) end
end

function State:node(node, dot)
  local t = node.t
  self.line = node.line or self.line
  if t == "text" then
    self:emit(node.v)
  elseif t == "action" then
    local v = self:pipe(node.pipe, dot)
    if not node.pipe.decl then self:emit(funcs.text(v, "<no value>")) end
  elseif t == "break" then
    return BREAK
  elseif t == "continue" then
    return CONTINUE
  else
    local mark = #self.vars
    local signal
    if t == "range" then
      signal = self:range(node, dot)
    else
      local v = self:pipe(node.pipe, dot)
      if funcs.truth(v) then
        signal = self:list(node.body, t == "with" and v or dot)
      elseif node.else_list then
        signal = self:list(node.else_list, dot)
      end
    end
    for k = #self.vars, mark + 1, -1 do self.vars[k] = nil end
    return signal
  end
end

-- }}}

local Template = {}
Template.__index = Template
M.Template = Template

local function failure_text(name, line, err, at)
  if getmetatable(err) == Failure then
    local where = (at and not err.line) and "at <" .. at.src .. ">: " or ""
    return format("ETEMPLATE: %s:%d: %s%s", name, err.line or line or 1, where, err.message)
  end
  return format("ETEMPLATE: %s:%d: internal error: %s", name, line or 1, tostring(err))
end

local function check_opts(opts, fname)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(format("bad argument #2 to '%s' (table expected, got %s)", fname, type(opts)), 3)
  end
  for k in pairs(opts) do
    if k ~= "name" and k ~= "funcs" then error(format("unknown option '%s'", tostring(k)), 3) end
  end
  return opts
end

--- parse(text [, {name = "acb.yaml", funcs = {name = function}}]) -> tpl
--- | nil, "ETEMPLATE: name:line: problem", "ETEMPLATE"
function M.parse(text, opts)
  if type(text) ~= "string" then
    error(format("bad argument #1 to 'parse' (string expected, got %s)", type(text)), 2)
  end
  opts = check_opts(opts, "parse")
  local name = opts.name or "template"
  local fns = setmetatable({}, {__index = funcs.functions})
  for fname, f in pairs(opts.funcs or {}) do
    if type(f) ~= "function" then error(format("function '%s' is not a function", fname), 2) end
    fns[fname] = {params = {"...any"}, fn = f}
  end
  local parser = setmetatable({i = 1, vars = {"$"}, depth = 0, loops = 0, funcs = fns}, Parser)
  local ok, result = pcall(function()
    parser.tokens = lex(text)
    local nodes, stop, tok = parser:list()
    if stop ~= "eof" then fail_at(tok.line, "unexpected {{%s}}", stop) end
    return nodes
  end)
  if not ok then
    local tok = parser.tokens and parser.tokens[math.min(parser.i, #parser.tokens)]
    return nil, failure_text(name, tok and tok.line, result), "ETEMPLATE"
  end
  return setmetatable({name = name, nodes = result, funcs = fns}, Template)
end

--- tpl:render(data) -> text | nil, "ETEMPLATE: name:line: problem", "ETEMPLATE"
--- Undefined values render as "" (missingkey=zero, then ACR strips every
--- "<no value>"); a field of a missing map is an error, as in Go.
function Template:render(data)
  if data == nil then data = {} end
  local state = setmetatable({out = {}, size = 0, vars = {{"$", data}}, funcs = self.funcs,
    line = 1}, State)
  local ok, err = pcall(state.list, state, self.nodes, data)
  if not ok then return nil, failure_text(self.name, state.line, err, state.at), "ETEMPLATE" end
  return (concat(state.out):gsub("<no value>", ""))
end

--- render(text, data [, opts]) -> text | fail: parse then render once.
function M.render(text, data, opts)
  local tpl, err, code = M.parse(text, opts)
  if not tpl then return nil, err, code end
  return tpl:render(data)
end

--- The functions templates can call (name -> spec), for docs and lint.
M.functions = funcs.functions

return M
