-- The README's plugin snippets run as written, with this checkout in place of
-- /path/to/copilot-lsp: the lazy.nvim spec names the plugin folder and a server command that
-- exists, and the no-plugin-manager snippet starts that server, which makes a suggestion.
local H = dofile(os.getenv("COPILOT_HARNESS"))
H.run(function()
  H.write_config()
  local plugin = require("copilot_lsp")
  local ghost = require("copilot_lsp.ghost")
  local executable = H.root .. "/.venv/bin/copilot-lsp"
  if vim.fn.executable(executable) ~= 1 then
    error(executable .. " is missing: the snippets need the checkout's venv (make run)")
  end

  local spec = assert(loadstring("return " .. H.readme_snippet("-- lazy.nvim")))()
  H.eq(vim.fn.filereadable(spec.dir .. "/lua/copilot_lsp/init.lua"), 1, "the lazy.nvim spec's dir is the plugin")
  local given
  local setup = plugin.setup
  plugin.setup = function(opts) given = opts end
  spec.config()
  plugin.setup = setup
  H.eq(given and given.cmd and given.cmd[1], executable, "the lazy.nvim snippet's server command")

  assert(loadstring(H.readme_snippet("-- no plugin manager")))()
  H.eq(plugin.config.cmd[1], executable, "the no-plugin-manager snippet's server command")
  H.edit(H.file, 6)
  H.eq(plugin.client(0).config.cmd[1], executable, "the server started")
  vim.api.nvim_input("o")
  H.wait("a suggestion", function() return ghost.text(0) end)
end)
