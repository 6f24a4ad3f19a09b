-- Next edits: after the user stops typing, ask the server (textDocument/copilotInlineEdit)
-- what other places the last edit implies (a renamed name's other occurrences, a repeated
-- change), and show the nearest one where it is: the replaced text highlighted, the new text
-- as virtual text after it. A key jumps there, one accepts it (the buffer changes only then),
-- one dismisses it. One suggestion is on screen at a time, in any buffer.
local M = {}
local METHOD = "textDocument/copilotInlineEdit"
local EVENT = "copilot/inlineEditEvent"

M.ns = vim.api.nvim_create_namespace("copilot_lsp_next_edit")
-- What is on screen: { origin, client, version, edits, index, shown }: ``origin`` is the
-- buffer asked about (at ``version``), ``shown`` the edit drawn (see M.current), or nil.
M.active = nil
local timers = {}
local inflight = {} -- per buffer: { client, id, version } of the request in flight
local asked = {} -- per buffer: the version last asked about (the timer does not ask twice)

local function plugin()
  return require("copilot_lsp")
end

local function config()
  return plugin().config
end

local function version_of(buf)
  return vim.lsp.util.buf_versions[buf]
end

local function enabled_for(buf)
  local p = plugin()
  if not config().next_edit or not vim.api.nvim_buf_is_valid(buf) then
    return false
  end
  if p.enabled_for then
    return p.enabled_for(buf)
  end
  return p.enabled
end

function M.define_highlights()
  vim.api.nvim_set_hl(0, "CopilotLspEditDelete", { link = "DiffDelete", default = true })
  vim.api.nvim_set_hl(0, "CopilotLspEditInsert", { link = "DiffAdd", default = true })
  vim.api.nvim_set_hl(0, "CopilotLspEditHint", { link = "Comment", default = true })
end

--- The loaded buffer of ``uri``, or nil (a buffer is never created or loaded for it).
local function loaded_buffer(uri)
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.uri_from_bufnr(buf) == uri then
      return buf
    end
  end
  return nil
end

--- The byte column of an LSP position in ``buf`` (nil when it is not in the buffer).
local function byte_col(buf, position, encoding)
  local line = vim.api.nvim_buf_get_lines(buf, position.line, position.line + 1, false)[1]
  if line == nil or type(position.character) ~= "number" or position.character < 0 then
    return nil
  end
  if encoding == "utf-8" then
    return math.min(position.character, #line)
  end
  local ok, col = pcall(vim.str_byteindex, line, encoding, position.character, false)
  return ok and col or nil
end

local function clear_marks()
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) then
      vim.api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
    end
  end
end

local function cancel(buf)
  local running = inflight[buf]
  inflight[buf] = nil
  require("copilot_lsp.requests").cancel(running)
end

--- The edit on screen for ``buf`` (the buffer it was asked for, or the one it changes; any
--- buffer when nil): { buf, uri, row, col, end_row, end_col (0-based, bytes), text, range
--- (LSP), version, command, request_id, origin }, or nil.
function M.current(buf)
  local active = M.active
  local edit = active and active.shown
  if edit == nil then
    return nil
  end
  if buf == 0 then
    buf = vim.api.nvim_get_current_buf()
  end
  if buf == nil or buf == active.origin or buf == edit.buf then
    return edit
  end
  return nil
end

--- Take the suggestion off the screen (that of ``buf``: asked for it or changing it; any
--- when nil). The server is told nothing: dismiss() says "rejected".
function M.clear(buf)
  if buf == 0 then
    buf = vim.api.nvim_get_current_buf()
  end
  local active = M.active
  if active == nil then
    return
  end
  if buf ~= nil and buf ~= active.origin and not (active.shown and active.shown.buf == buf) then
    return
  end
  M.active = nil
  clear_marks()
end

local function notify(client, request_id, event)
  if client and type(request_id) == "number" and not client:is_stopped() then
    client:notify(EVENT, { requestId = request_id, event = event })
  end
end

--- Where ``edit`` is, in bytes of its buffer; false when it is no longer there.
local function locate(edit, encoding)
  local buf = loaded_buffer(edit.uri)
  if buf == nil or (edit.version ~= nil and version_of(buf) ~= edit.version) then
    return false
  end
  local range = edit.range
  local col = byte_col(buf, range.start, encoding)
  local end_col = byte_col(buf, range["end"], encoding)
  if col == nil or end_col == nil then
    return false
  end
  local row, end_row = range.start.line, range["end"].line
  if end_row < row or (end_row == row and end_col < col) then
    return false
  end
  edit.buf, edit.row, edit.col, edit.end_row, edit.end_col = buf, row, col, end_row, end_col
  return true
end

local function draw(active, edit)
  local buf = edit.buf
  if edit.end_row > edit.row or edit.end_col > edit.col then
    vim.api.nvim_buf_set_extmark(buf, M.ns, edit.row, edit.col, {
      end_row = edit.end_row,
      end_col = edit.end_col,
      hl_group = "CopilotLspEditDelete",
      priority = 200,
    })
  end
  local lines = vim.split(edit.text, "\n", { plain = true })
  if edit.text ~= "" then
    local virt_lines = {}
    for i = 2, #lines do
      table.insert(virt_lines, { { lines[i], "CopilotLspEditInsert" } })
    end
    vim.api.nvim_buf_set_extmark(buf, M.ns, edit.end_row, edit.end_col, {
      virt_text = { { lines[1], "CopilotLspEditInsert" } },
      virt_text_pos = "inline",
      virt_lines = #virt_lines > 0 and virt_lines or nil,
      hl_mode = "combine",
      priority = 200,
    })
  end
  -- An edit in another file: a hint where the user is.
  if buf ~= active.origin and vim.api.nvim_buf_is_loaded(active.origin) then
    local win = vim.fn.bufwinid(active.origin)
    local row = win ~= -1 and vim.api.nvim_win_get_cursor(win)[1] - 1 or 0
    local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(buf), ":t")
    local hint = ("  next edit: %s:%d %s"):format(name, edit.row + 1, lines[1])
    vim.api.nvim_buf_set_extmark(active.origin, M.ns, row, 0, {
      virt_text = { { hint, "CopilotLspEditHint" } },
      virt_text_pos = "eol",
    })
  end
end

--- Draw the first edit from ``from`` on that is in a loaded buffer, as the server saw it.
local function show_from(active, from)
  clear_marks()
  local encoding = active.client.offset_encoding or "utf-16"
  for i = from, #active.edits do
    local edit = active.edits[i]
    if locate(edit, encoding) then
      active.index, active.shown, edit.origin = i, edit, active.origin
      M.active = active
      draw(active, edit)
      if edit.request_id and not active.reported then
        active.reported = true -- one answer, one request id: reported once
        notify(active.client, edit.request_id, "shown")
      end
      return true
    end
  end
  M.active = nil
  return false
end

local function edits_of(result, uri)
  local edits = {}
  local list = type(result) == "table" and type(result.edits) == "table" and result.edits or {}
  for _, edit in ipairs(list) do
    if type(edit) == "table" and type(edit.range) == "table" and type(edit.text) == "string" then
      local document = type(edit.textDocument) == "table" and edit.textDocument or {}
      local command = type(edit.command) == "table" and edit.command or nil
      local request_id = command and type(command.arguments) == "table" and command.arguments[1]
      table.insert(edits, {
        uri = document.uri or uri,
        version = document.version,
        range = edit.range,
        text = edit.text,
        command = command,
        request_id = type(request_id) == "number" and request_id or nil,
      })
    end
  end
  return edits
end

local function position_in(buf, client)
  local win = vim.api.nvim_get_current_buf() == buf and vim.api.nvim_get_current_win() or vim.fn.bufwinid(buf)
  if win == -1 then
    return { line = 0, character = 0 }
  end
  local cursor = vim.api.nvim_win_get_cursor(win)
  local line = vim.api.nvim_buf_get_lines(buf, cursor[1] - 1, cursor[1], false)[1] or ""
  local encoding = client.offset_encoding or "utf-16"
  local character = cursor[2]
  if encoding ~= "utf-8" then
    local ok, index = pcall(vim.str_utfindex, line, encoding, math.min(cursor[2], #line), false)
    character = ok and index or 0
  end
  return { line = cursor[1] - 1, character = character }
end

--- Ask the server for the next edits after the last change in ``buf`` (current when nil).
function M.request(buf)
  buf = (buf == nil or buf == 0) and vim.api.nvim_get_current_buf() or buf
  local client = plugin().client(buf)
  if client == nil or not enabled_for(buf) then
    return false
  end
  cancel(buf)
  local version = version_of(buf)
  local uri = vim.uri_from_bufnr(buf)
  asked[buf] = version
  local params = { textDocument = { uri = uri, version = version }, position = position_in(buf, client) }
  local ok, id = client:request(METHOD, params, function(err, result, ctx)
    if inflight[buf] and inflight[buf].id == ctx.request_id then
      inflight[buf] = nil
    end
    if err or not vim.api.nvim_buf_is_loaded(buf) or version_of(buf) ~= version then
      return -- the text changed since: a newer request is coming
    end
    M.clear() -- an earlier answer's suggestion
    local edits = edits_of(result, uri)
    if #edits > 0 then
      show_from({ origin = buf, client = client, version = version, edits = edits, index = 0 }, 1)
    end
  end, buf)
  if ok then
    inflight[buf] = { client = client, id = id, version = version }
  end
  return ok
end

--- Move the cursor to the start of the suggested edit (to its buffer's window, or its
--- buffer in this window, when it is in another file). False when none is shown.
function M.jump()
  local edit = M.current()
  if edit == nil or not vim.api.nvim_buf_is_loaded(edit.buf) then
    return false
  end
  if vim.fn.mode() == "n" then
    vim.cmd("normal! m'") -- back with <C-o>
  end
  if vim.api.nvim_get_current_buf() ~= edit.buf then
    local win = vim.fn.bufwinid(edit.buf)
    if win ~= -1 then
      vim.api.nvim_set_current_win(win)
    elseif not pcall(vim.cmd.buffer, edit.buf) then
      return false
    end
  end
  vim.api.nvim_win_set_cursor(0, { edit.row + 1, edit.col })
  return true
end

--- Apply the suggested edit, report its acceptance (its command, run by the server), and
--- ask for the next one. False when none is shown (or its text changed since).
function M.accept()
  local active = M.active
  local edit = active and active.shown
  if edit == nil then
    return false
  end
  local client = active.client
  local still = locate(edit, client.offset_encoding or "utf-16")
  M.clear()
  if not still or client:is_stopped() then
    return false
  end
  vim.lsp.util.apply_text_edits({ { range = edit.range, newText = edit.text } }, edit.buf, client.offset_encoding)
  local command = edit.command
  if command and command.command then
    -- Through the client (its didChange of the edit goes first), as workspace/executeCommand.
    client:request("workspace/executeCommand", { command = command.command, arguments = command.arguments },
      function() end, edit.buf)
  end
  M.request(edit.buf) -- the next one: the server's last edit is now this one
  return true
end

--- Take the suggestion away and tell the server it was rejected (it is not offered again
--- at those places). False when none is shown.
function M.dismiss()
  local active = M.active
  local edit = active and active.shown
  if edit == nil then
    return false
  end
  M.clear()
  notify(active.client, edit.request_id, "rejected")
  return true
end

local function schedule(buf)
  if not enabled_for(buf) then
    return
  end
  require("copilot_lsp.requests").after_pause(timers, buf, config().next_edit_debounce_ms, function()
    if vim.api.nvim_buf_is_loaded(buf) and vim.api.nvim_get_current_buf() == buf and asked[buf] ~= version_of(buf) then
      M.request(buf)
    end
  end)
end

--- The text of ``buf`` changed: what was asked or shown for an older text goes.
local function on_change(buf)
  local version = version_of(buf)
  if inflight[buf] and inflight[buf].version ~= version then
    cancel(buf)
  end
  local active = M.active
  if active then
    local stale_origin = active.origin == buf and active.version ~= version
    local stale_target = active.shown and active.shown.buf == buf and active.shown.version ~= version
    if stale_origin or stale_target then
      M.clear()
    end
  end
  schedule(buf)
end

local function forget(buf)
  cancel(buf)
  M.clear(buf)
  if timers[buf] then
    timers[buf]:stop()
    timers[buf]:close()
    timers[buf] = nil
  end
  asked[buf] = nil
end

-- Keys in normal and insert mode: act when there is a suggestion, else do what they did.
local function map(lhs, action, desc)
  if not lhs then
    return
  end
  vim.keymap.set({ "n", "i" }, lhs, function()
    if not action() then
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(lhs, true, false, true), "n", false)
    end
  end, { desc = "copilot-lsp: " .. desc, silent = true })
end

function M.setup(cfg)
  local group = vim.api.nvim_create_augroup("copilot_lsp_next_edit", { clear = true })
  M.define_highlights()
  if not cfg.next_edit then
    M.clear()
    return
  end
  local keys = cfg.keymaps
  map(keys.next_edit_jump, M.jump, "jump to the next edit")
  map(keys.next_edit_accept, M.accept, "accept the next edit")
  map(keys.next_edit_dismiss, M.dismiss, "dismiss the next edit")
  vim.api.nvim_create_autocmd({ "TextChanged", "TextChangedI", "TextChangedP" }, {
    group = group,
    callback = function(args) on_change(args.buf) end,
  })
  vim.api.nvim_create_autocmd("InsertLeave", {
    group = group,
    callback = function(args)
      if M.current(args.buf) == nil then
        schedule(args.buf)
      end
    end,
  })
  vim.api.nvim_create_autocmd({ "BufUnload", "BufWipeout" }, {
    group = group,
    callback = function(args) forget(args.buf) end,
  })
  vim.api.nvim_create_autocmd("ColorScheme", { group = group, callback = M.define_highlights })
end

return M
