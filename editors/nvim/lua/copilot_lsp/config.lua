-- Options: defaults, and validation that reports each bad option once and keeps its default.
local M = {}

M.defaults = {
  cmd = { "copilot-lsp", "serve" }, -- how to start the server: a command, or a function as vim.lsp.start takes
  server = nil, -- "HOST:PORT" of a running `copilot-lsp serve --tcp HOST:PORT`: connect to it instead of cmd
  root_markers = { ".git", "pyproject.toml", "package.json", "go.mod", "Cargo.toml" },
  debounce_ms = 75, -- wait after a keystroke before asking (the request in flight is cancelled at once)
  auto_trigger = true,
  filetypes = { ["*"] = true }, -- e.g. { ["*"] = true, markdown = false }
  init_options = vim.empty_dict(), -- the server's settings (README, Configuration), sent as initializationOptions
  highlight = "Comment",
  next_edit = true, -- next-edit suggestions: the other places the last edit implies (a rename, a repeated change)
  next_edit_debounce_ms = 250, -- wait after the last change before asking for them
  keymaps = {
    accept = "<Tab>",
    accept_word = "<M-Right>",
    accept_line = "<M-Down>",
    dismiss = "<C-]>",
    next = "<M-]>",
    prev = "<M-[>",
    trigger = "<M-\\>",
    generate = "<M-CR>",
    -- next edits, in normal and insert mode
    next_edit_jump = "<M-e>",
    next_edit_accept = "<M-y>",
    next_edit_dismiss = "<M-x>",
  },
}

local checks = {
  cmd = { "table", "function" },
  server = "string",
  root_markers = "table",
  debounce_ms = "number",
  auto_trigger = "boolean",
  filetypes = "table",
  init_options = "table",
  highlight = "string",
  next_edit = "boolean",
  next_edit_debounce_ms = "number",
  keymaps = "table",
}

M.DEFAULT_HOST = "127.0.0.1" -- of ":PORT", as for `copilot-lsp serve --tcp :PORT`

--- host, port of "HOST:PORT", "[IPv6]:PORT" or ":PORT" (the forms `serve --tcp` takes: the port
--- is after the last colon); nil if malformed.
---@param spec string
---@return string|nil host, integer|nil port
function M.parse_address(spec)
  local host, port = spec:match("^(.*):(%d+)$")
  port = tonumber(port)
  if host == nil or port == nil or port < 1 or port > 65535 then
    return nil
  end
  local bracketed = host:match("^%[(.*:.*)%]$")
  if bracketed then
    host = bracketed
  elseif host == "" then
    host = M.DEFAULT_HOST
  elseif not host:match("^[%w%.%-_]+$") and not host:find(":", 1, true) then
    return nil -- spaces, a scheme, a path, an unclosed bracket
  end
  -- A colon in the host: an IPv6 address, with or without its brackets ("[::1]:2087", "::1:2087").
  if host:find(":", 1, true) and not vim.uv.getaddrinfo(host, nil, { numerichost = true }) then
    return nil
  end
  return host, port
end

local function address_error(spec)
  return ("copilot_lsp: option \"server\" must be \"HOST:PORT\" with a port from 1 to 65535"
    .. " (e.g. \"127.0.0.1:2087\", \"[::1]:2087\" or \":2087\"), got %s: no server started"):format(vim.inspect(spec))
end

local function type_ok(value, expected)
  if type(expected) == "table" then
    return vim.tbl_contains(expected, type(value))
  end
  return type(value) == expected
end

---@param opts table|nil
---@return table config, string[] errors
--- config.address: { host, port } when `server` is set, false when it is malformed (nothing
--- is started then), nil when the server is started with cmd.
function M.resolve(opts)
  local config = vim.deepcopy(M.defaults)
  local errors = {}
  for key, value in pairs(opts or {}) do
    local expected = checks[key]
    if expected == nil then
      table.insert(errors, ("copilot_lsp: unknown option %q"):format(key))
    elseif key == "server" then
      local host, port
      if type(value) == "string" then
        host, port = M.parse_address(value)
      end
      if host then
        config.server, config.address = value, { host = host, port = port }
      elseif value ~= "" then -- "": not set (the server is started with cmd)
        config.server, config.address = value, false
        table.insert(errors, address_error(value))
      end
    elseif not type_ok(value, expected) then
      local name = type(expected) == "table" and table.concat(expected, " or a ") or expected
      table.insert(errors, ("copilot_lsp: option %q must be a %s, got %s: using the default"):format(key, name, type(value)))
    elseif key == "keymaps" then
      for name, lhs in pairs(value) do
        if config.keymaps[name] == nil then
          table.insert(errors, ("copilot_lsp: unknown keymap %q"):format(name))
        elseif lhs ~= false and type(lhs) ~= "string" then
          table.insert(errors, ("copilot_lsp: keymap %q must be a string or false: using the default"):format(name))
        else
          config.keymaps[name] = lhs
        end
      end
    elseif key == "init_options" and next(value) ~= nil and vim.islist(value) then
      local message = "copilot_lsp: option \"init_options\" must be a table of settings by name, got a list"
      table.insert(errors, message .. ": using the default")
    elseif (key == "debounce_ms" or key == "next_edit_debounce_ms") and value < 0 then
      table.insert(errors, ("copilot_lsp: option %q must be >= 0: using the default"):format(key))
    else
      config[key] = value
    end
  end
  if config.address and opts.cmd ~= nil then
    table.insert(errors, ("copilot_lsp: options \"server\" and \"cmd\" are both set: connecting to %s, cmd unused"):format(config.server))
  end
  return config, errors
end

return M
