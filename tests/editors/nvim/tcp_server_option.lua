-- setup({ server = "HOST:PORT" }) connects to a running `copilot-lsp serve --tcp` (started by
-- test_nvim.py before Neovim, at $COPILOT_LSP_ADDRESS) with vim.lsp.rpc.connect: a suggestion
-- comes through that connection. A malformed address is one error and starts nothing; an
-- address where nothing listens is one warning, and the next file opened there connects
-- anew; :checkhealth says which server is used and whether something listens there.
local H = dofile(os.getenv("COPILOT_HARNESS"))
local ADDRESS = os.getenv("COPILOT_LSP_ADDRESS")

local function health()
  vim.cmd("checkhealth copilot_lsp")
  local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  vim.cmd("bwipeout")
  return report
end

local function has(report, expected)
  if not report:find(expected, 1, true) then
    error("checkhealth lacks " .. vim.inspect(expected) .. ":\n" .. report, 2)
  end
end

--- A port nothing listens on (bound, then closed).
local function dead_port()
  local tcp = assert(vim.uv.new_tcp())
  assert(tcp:bind("127.0.0.1", 0))
  local port = tcp:getsockname().port
  tcp:close()
  return port
end

H.run(function()
  local plugin = require("copilot_lsp")
  local config = require("copilot_lsp.config")
  local ghost = require("copilot_lsp.ghost")
  local messages = {}
  vim.notify = function(message, level) table.insert(messages, { message = message, level = level }) end

  -- The forms `copilot-lsp serve --tcp` takes.
  for spec, expected in pairs({
    ["127.0.0.1:2087"] = { "127.0.0.1", 2087 },
    ["localhost:2087"] = { "localhost", 2087 },
    ["[::1]:2087"] = { "::1", 2087 },
    ["::1:2087"] = { "::1", 2087 },
    [":2087"] = { "127.0.0.1", 2087 },
  }) do
    local resolved, errors = config.resolve({ server = spec })
    H.eq(#errors, 0, spec .. ": " .. vim.inspect(errors))
    H.eq(vim.inspect({ resolved.address.host, resolved.address.port }), vim.inspect(expected), spec)
  end
  for _, spec in ipairs({ "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "tcp://127.0.0.1:2087",
    "127.0.0.1 :2087", "[::1:2087", "1:2:3", "[localhost]:2087", 2087 }) do
    local resolved, errors = config.resolve({ server = spec })
    H.eq(#errors, 1, vim.inspect(spec) .. ": one error " .. vim.inspect(errors))
    H.eq(resolved.address, false, vim.inspect(spec) .. ": nothing to connect to")
    if not errors[1]:find('option "server" must be "HOST:PORT"', 1, true) then
      error("the error: " .. errors[1])
    end
  end
  local _, both = config.resolve({ server = ADDRESS, cmd = H.cmd })
  H.eq(#both, 1, "server and cmd both set: " .. vim.inspect(both))

  -- A malformed address: one error, and no server started (nor spawned).
  plugin.setup({ server = "127.0.0.1", init_options = H.init_options })
  H.eq(#messages, 1, "one message: " .. vim.inspect(messages))
  H.eq(messages[1].level, vim.log.levels.ERROR, "an error")
  H.eq(messages[1].message, 'copilot_lsp: option "server" must be "HOST:PORT" with a port from 1 to 65535 (e.g. '
    .. '"127.0.0.1:2087", "[::1]:2087" or ":2087"), got "127.0.0.1": no server started', "the message")
  vim.cmd.edit(H.file)
  H.sleep(500)
  H.eq(#vim.lsp.get_clients({ _uninitialized = true }), 0, "no client")
  vim.cmd("bwipeout")
  local report = health()
  has(report, 'ERROR option server is not HOST:PORT: "127.0.0.1"')

  -- An address where nothing listens: checkhealth says so; a file opened gets Neovim's one
  -- warning that it could not connect (and nothing crashes or loops).
  local port = dead_port()
  plugin.setup({ server = "127.0.0.1:" .. port, init_options = H.init_options })
  report = health()
  has(report, ("OK server address: 127.0.0.1:%d (option server"):format(port))
  has(report, ("ERROR nothing listens at 127.0.0.1:%d"):format(port))
  messages = {}
  vim.cmd.edit(H.file)
  H.wait("a warning", function() return #messages > 0 end, 10000)
  H.sleep(1000)
  H.eq(#messages, 1, "one warning: " .. vim.inspect(messages))
  if not messages[1].message:find("127.0.0.1:" .. port, 1, true) then
    error("the warning names the address: " .. messages[1].message)
  end
  H.eq(plugin.client(0), nil, "not connected")
  vim.cmd("bwipeout")

  -- Something listening there (a socket of this Neovim): checkhealth says so.
  local listener = assert(vim.uv.new_tcp())
  assert(listener:bind("127.0.0.1", 0))
  local listening = listener:getsockname().port
  assert(listener:listen(8, function() end))
  plugin.setup({ server = ":" .. listening })
  has(health(), ("OK something listens at 127.0.0.1:%d"):format(listening))
  listener:close()

  -- The running server: a suggestion through the connection. The client whose connection
  -- failed (same root) is not reused once connect_grace_ms is over: a new one connects.
  messages = {}
  plugin.connect_grace_ms = 200
  plugin.setup({ server = ADDRESS, init_options = H.init_options })
  H.eq(#messages, 0, "no message: " .. vim.inspect(messages))
  H.edit(H.file, 6)
  local client = plugin.client(0)
  H.eq(type(client.config.cmd), "function", "connected with vim.lsp.rpc.connect, nothing spawned")
  H.wait("the failed client gone", function() return #vim.lsp.get_clients({ _uninitialized = true }) == 1 end, 5000)
  vim.api.nvim_input("o")
  H.wait("a suggestion", function() return ghost.text(0) end)
  H.wait("the server counting the request", function() return (H.stats(client).counts.requests or 0) > 0 end)
  vim.api.nvim_input("<Esc>")
  H.sleep(100)
  local status = vim.api.nvim_exec2("CopilotLsp status", { output = true }).output
  if not status:find("server running (root " .. vim.fs.dirname(H.file) .. ", tcp " .. ADDRESS .. ")", 1, true) then
    error("status: " .. status)
  end
  report = health()
  has(report, "OK server address: " .. ADDRESS)
  has(report, "OK connected: server running for " .. vim.fs.dirname(H.file))
  if report:find("ERROR", 1, true) or report:find("listens", 1, true) then
    error("connected: no probe, no error:\n" .. report)
  end
end)
