-- No plugin at all: Neovim 0.12's own vim.lsp.inline_completion with `copilot-lsp serve`
-- (the README's snippet) gets a suggestion and accepts it.
local H = dofile(os.getenv("COPILOT_HARNESS"))
H.run(function()
  vim.cmd.edit(H.file)
  vim.lsp.start({ name = "copilot-lsp", cmd = H.cmd, root_dir = vim.fs.dirname(H.file), init_options = H.init_options })
  vim.lsp.inline_completion.enable(true)
  H.edit(nil, 6)
  local before = H.line(6)
  vim.api.nvim_input("o")
  H.wait("a suggestion accepted", function() return vim.lsp.inline_completion.get() end)
  H.wait("the buffer has it", function() return #H.line(6) > #before + 1 end, 3000)
end)
