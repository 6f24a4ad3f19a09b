-- :checkhealth copilot_lsp
local M = {}

function M.check()
  local plugin = require("copilot_lsp")
  vim.health.start("copilot-lsp")
  if vim.fn.has("nvim-0.12") == 1 then
    vim.health.ok("Neovim " .. tostring(vim.version()))
  else
    vim.health.error("Neovim 0.12 or newer is needed (found " .. tostring(vim.version()) .. ")")
  end
  local cmd = plugin.config.cmd
  if vim.fn.executable(cmd[1]) == 1 then
    vim.health.ok("server command: " .. table.concat(cmd, " "))
    local doctor = vim.list_slice(cmd, 1, #cmd - 1)
    table.insert(doctor, "doctor")
    local result = vim.system(doctor, { text = true }):wait(60000)
    if result.code == 0 then
      vim.health.ok("model and cache: `" .. table.concat(doctor, " ") .. "` passed")
    else
      vim.health.error("`" .. table.concat(doctor, " ") .. "` found problems:\n" .. (result.stdout or ""))
    end
  else
    vim.health.error("server command not found: " .. cmd[1], { "install copilot-lsp (make run), or set cmd in setup{}" })
  end
  local clients = vim.lsp.get_clients({ name = "copilot-lsp" })
  if #clients > 0 then
    for _, client in ipairs(clients) do
      vim.health.ok("connected: server running for " .. (client.root_dir or "?"))
    end
  else
    vim.health.warn("no server running (open a file of an enabled filetype; see :CopilotLsp log)")
  end
end

return M
