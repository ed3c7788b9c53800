-- luacheck configuration for lua/ (run as a CTest test)
std = "lua54"
unused_args = false   -- method signatures keep arguments their callers pass
max_line_length = 120
