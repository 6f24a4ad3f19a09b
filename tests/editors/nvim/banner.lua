-- The Neovim line of `make run`'s banner ($COPILOT_BANNER_LINE, e.g.
-- require("copilot_lsp").setup({ server = "127.0.0.1:2087" })), run as printed, connects the
-- plugin to the server that make started ($COPILOT_LSP_ADDRESS), which makes a suggestion.
-- The server reads the harness's settings from config.toml (test_nvim.py wrote it).
local H = dofile(os.getenv("COPILOT_HARNESS"))
H.run(function()
  local plugin = require("copilot_lsp")
  local ghost = require("copilot_lsp.ghost")
  local messages = {}
  vim.notify = function(message) table.insert(messages, message) end
  local line = os.getenv("COPILOT_BANNER_LINE")
  local chunk, err = loadstring(line)
  if chunk == nil then
    error("the banner's Neovim line is not Lua: " .. line .. "\n" .. err)
  end
  chunk()
  H.eq(#messages, 0, "no error from " .. line .. ": " .. vim.inspect(messages))
  H.eq(plugin.config.server, os.getenv("COPILOT_LSP_ADDRESS"), "the address make run listens on")
  H.edit(H.file, 6)
  H.eq(type(plugin.client(0).config.cmd), "function", "connected, not spawned")
  vim.api.nvim_input("o")
  H.wait("a suggestion", function() return ghost.text(0) end)
end)
