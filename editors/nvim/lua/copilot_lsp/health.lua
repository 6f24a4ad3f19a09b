-- :checkhealth copilot_lsp
local M = {}

--- Does something accept a TCP connection at host:port? (The connection is closed at once.)
---@return boolean listening, string|nil why_not
function M.probe(host, port, timeout_ms)
  local info, lookup_error = vim.uv.getaddrinfo(host, nil, { socktype = "stream" })
  if not (info and info[1]) then
    return false, ("%s does not resolve: %s"):format(host, lookup_error or "no address")
  end
  local tcp = assert(vim.uv.new_tcp())
  local result
  local called, ok, err = pcall(tcp.connect, tcp, info[1].addr, port, function(e) result = e or true end)
  if not (called and ok) then
    tcp:close()
    return false, called and err or ok
  end
  vim.wait(timeout_ms or 2000, function() return result ~= nil end, 10)
  if not tcp:is_closing() then
    tcp:close()
  end
  if result == true then
    return true
  end
  return false, result or ("no answer in %d ms"):format(timeout_ms or 2000)
end

local function check_command(cmd)
  if type(cmd) == "function" then
    vim.health.ok("server: cmd is a function (e.g. vim.lsp.rpc.connect()), given to vim.lsp.start as it is")
    return
  end
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
end

local function check_address(config, clients)
  local address = config.address
  local where = ("%s:%d"):format(address.host:find(":", 1, true) and "[" .. address.host .. "]" or address.host, address.port)
  vim.health.ok(("server address: %s (option server: connects over TCP, cmd is not used)"):format(where))
  for _, client in ipairs(clients) do
    if client.initialized then
      return -- connected: "connected" below says so (a probe would open a second session)
    end
  end
  local listening, why = M.probe(address.host, address.port)
  if listening then
    vim.health.ok(("something listens at %s (the plugin connects when a file of an enabled filetype opens)"):format(where))
  else
    vim.health.error(("nothing listens at %s (%s)"):format(where, why), {
      ("start the server: copilot-lsp serve --tcp %s (or make run in its repository)"):format(where),
      "or leave out the server option to let the plugin start the server (cmd)",
    })
  end
end

function M.check()
  local plugin = require("copilot_lsp")
  vim.health.start("copilot-lsp")
  if vim.fn.has("nvim-0.12") == 1 then
    vim.health.ok("Neovim " .. tostring(vim.version()))
  else
    vim.health.error("Neovim 0.12 or newer is needed (found " .. tostring(vim.version()) .. ")")
  end
  local config = plugin.config
  local clients = vim.lsp.get_clients({ name = "copilot-lsp" })
  if config.address == false then
    vim.health.error(("option server is not HOST:PORT: %s (no server started)"):format(vim.inspect(config.server)),
      { 'e.g. setup({ server = "127.0.0.1:2087" }) for `copilot-lsp serve --tcp 127.0.0.1:2087`' })
  elseif config.address then
    check_address(config, clients)
  else
    check_command(config.cmd)
  end
  local connected = false
  for _, client in ipairs(clients) do
    if client.initialized then
      connected = true
      vim.health.ok("connected: server running for " .. (client.root_dir or "?"))
    end
  end
  if not connected then
    vim.health.warn("no server running (open a file of an enabled filetype; see :CopilotLsp log)")
  end
end

return M
