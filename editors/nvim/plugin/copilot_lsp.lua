-- :CopilotLsp status | toggle | stats | log (setup{} starts the rest).
if vim.g.loaded_copilot_lsp then
  return
end
vim.g.loaded_copilot_lsp = true

local actions = {
  status = function()
    print("copilot-lsp: " .. require("copilot_lsp").status())
  end,
  toggle = function()
    require("copilot_lsp").toggle()
  end,
  stats = function()
    require("copilot_lsp").stats(function(stats, err)
      if err then
        vim.notify("copilot-lsp: " .. err, vim.log.levels.WARN)
        return
      end
      -- In the message history too, so :messages shows it again.
      local lines = require("copilot_lsp.stats").lines(stats)
      vim.api.nvim_echo({ { table.concat(lines, "\n") } }, true, {})
    end)
  end,
  log = function()
    vim.cmd.tabnew(vim.lsp.log.get_filename())
  end,
}

vim.api.nvim_create_user_command("CopilotLsp", function(args)
  local action = actions[args.fargs[1] or "status"]
  if action == nil then
    vim.notify("copilot-lsp: unknown subcommand " .. args.fargs[1] .. " (status, toggle, stats, log)", vim.log.levels.ERROR)
    return
  end
  action()
end, {
  nargs = "?",
  complete = function()
    return vim.tbl_keys(actions)
  end,
})
