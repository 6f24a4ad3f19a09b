-- Options: defaults, and validation that reports each bad option once and keeps its default.
local M = {}

M.defaults = {
  cmd = { "copilot-lsp", "serve" }, -- how to start the server
  root_markers = { ".git", "pyproject.toml", "package.json", "go.mod", "Cargo.toml" },
  debounce_ms = 75, -- wait after a keystroke before asking (the request in flight is cancelled at once)
  auto_trigger = true,
  filetypes = { ["*"] = true }, -- e.g. { ["*"] = true, markdown = false }
  init_options = vim.empty_dict(), -- the server's settings (README, Configuration), sent as initializationOptions
  highlight = "Comment",
  keymaps = {
    accept = "<Tab>",
    accept_word = "<M-Right>",
    accept_line = "<M-Down>",
    dismiss = "<C-]>",
    next = "<M-]>",
    prev = "<M-[>",
    trigger = "<M-\\>",
    generate = "<M-CR>",
  },
}

local checks = {
  cmd = "table",
  root_markers = "table",
  debounce_ms = "number",
  auto_trigger = "boolean",
  filetypes = "table",
  init_options = "table",
  highlight = "string",
  keymaps = "table",
}

---@param opts table|nil
---@return table config, string[] errors
function M.resolve(opts)
  local config = vim.deepcopy(M.defaults)
  local errors = {}
  for key, value in pairs(opts or {}) do
    local expected = checks[key]
    if expected == nil then
      table.insert(errors, ("copilot_lsp: unknown option %q"):format(key))
    elseif type(value) ~= expected then
      table.insert(errors, ("copilot_lsp: option %q must be a %s, got %s: using the default"):format(key, expected, type(value)))
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
    elseif key == "debounce_ms" and value < 0 then
      table.insert(errors, "copilot_lsp: option \"debounce_ms\" must be >= 0: using the default")
    else
      config[key] = value
    end
  end
  return config, errors
end

return M
