-- No plugin at all: Neovim 0.12's own vim.lsp.inline_completion with the README's snippet (run
-- as written, with this checkout in place of /path/to/copilot-lsp) gets a suggestion and accepts it.
local H = dofile(os.getenv("COPILOT_HARNESS"))
H.run(function()
  H.write_config()
  assert(loadstring(H.readme_snippet("vim.lsp.inline_completion.enable")))()
  H.edit(H.file, 6)
  H.eq(vim.lsp.get_clients({ bufnr = 0 })[1].config.cmd[1], H.root .. "/.venv/bin/copilot-lsp", "the snippet's server")
  local before = H.line(6)
  vim.api.nvim_input("o")
  H.wait("a suggestion accepted", function() return vim.lsp.inline_completion.get() end)
  H.wait("the buffer has it", function() return #H.line(6) > #before + 1 end, 3000)
end)
