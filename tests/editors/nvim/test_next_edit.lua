-- Next edits: a parameter retyped key by key shows its next use where it is (the old name
-- highlighted, the new one as virtual text after it); the jump key moves the cursor there,
-- the accept key changes exactly that text and the next use shows, the dismiss key clears it;
-- the server counts what was shown, accepted and rejected. A renamed function shows its
-- importer's edit in that other buffer, and the jump key switches to it. The text the user
-- typed, and the text of the suggestions, change only on accept.
local H = dofile(os.getenv("COPILOT_HARNESS"))
H.run(function()
  local plugin = require("copilot_lsp")
  local nextedit = require("copilot_lsp.nextedit")
  -- No inline completions (the model): this test is about next edits only.
  plugin.setup({ cmd = H.cmd, init_options = H.init_options, auto_trigger = false, next_edit_debounce_ms = 50 })
  H.eq(plugin.config.keymaps.next_edit_jump, "<M-e>", "the jump key")
  local dir = vim.fs.dirname(H.file)
  local lib, main = dir .. "/pricing.py", dir .. "/main.py"
  local lib_lines = {
    "def net_price(price, rate):",
    "    taxed = price * (1 + rate)",
    "    rounded = round(price, 2)",
    "    return rounded + taxed * 0 + price",
  }
  local main_lines = { "from pricing import net_price", "", "", "print(net_price(10, 0.2))" }
  vim.fn.writefile(lib_lines, lib)
  vim.fn.writefile(main_lines, main)

  -- main.py open (the server has it) but hidden: pricing.py is edited in the only window.
  vim.cmd.edit(main)
  local main_buf = vim.api.nvim_get_current_buf()
  H.wait("main.py's server", function() return plugin.client(main_buf) end)
  H.edit(lib, 0)
  local buf = vim.api.nvim_get_current_buf()
  H.wait("insert mode", function() return vim.fn.mode() == "i" end, 5000) -- H.edit's startinsert
  vim.api.nvim_input("<Esc>")
  H.wait("normal mode", function() return vim.fn.mode() == "n" end)

  local function lines(b)
    return vim.api.nvim_buf_get_lines(b or buf, 0, -1, false)
  end
  local function same(actual, expected, what)
    H.eq(table.concat(actual, "\n"), table.concat(expected, "\n"), what)
  end
  local function marks(b)
    return vim.api.nvim_buf_get_extmarks(b or buf, nextedit.ns, 0, -1, { details = true })
  end
  --- The edit shown, once it is the one expected: { row, col, end_col, text } in ``b``.
  local function shown(what, b, row, col, end_col, text)
    return H.wait(what, function()
      local edit = nextedit.current(b)
      return edit and edit.buf == b and edit.row == row and edit.col == col and edit.end_row == row
        and edit.end_col == end_col and edit.text == text and edit
    end, 20000)
  end
  --- Its extmarks: the replaced text highlighted, the new text right after it.
  local function check_marks(b, row, col, end_col, text)
    local deleted, inserted
    for _, mark in ipairs(marks(b)) do
      local details = mark[4]
      if details.hl_group == "CopilotLspEditDelete" then
        deleted = { mark[2], mark[3], details.end_row, details.end_col }
      elseif details.virt_text then
        inserted = { mark[2], mark[3], details.virt_text[1][1], details.virt_text[1][2], details.virt_text_pos }
      end
    end
    H.eq(vim.inspect(deleted), vim.inspect({ row, col, row, end_col }), "the replaced range marked")
    local beside = { row, end_col, text, "CopilotLspEditInsert", "inline" }
    H.eq(vim.inspect(inserted), vim.inspect(beside), "the new text beside it")
  end

  -- Retype the parameter as a user would: ciw, then one key at a time, slower than the
  -- debounce (so half-typed names are asked about too: their suggestions go as the next key
  -- comes, and none of them is ever written to the buffer).
  vim.api.nvim_win_set_cursor(0, { 1, 14 })
  vim.api.nvim_input("ciw")
  H.wait("the parameter deleted", function() return H.line(0) == "def net_price(, rate):" end, 5000)
  local typed = ""
  for char in ("amount"):gmatch(".") do
    vim.api.nvim_input(char)
    typed = typed .. char
    H.wait("typed " .. typed, function() return H.line(0) == "def net_price(" .. typed .. ", rate):" end, 5000)
    H.sleep(150)
    same({ unpack(lines(), 2) }, { unpack(lib_lines, 2) }, "the other lines while typing " .. typed)
  end
  vim.api.nvim_input("<Esc>")
  H.wait("normal mode", function() return vim.fn.mode() == "n" end)
  local expected = vim.deepcopy(lib_lines)
  expected[1] = "def net_price(amount, rate):"

  -- The first use, marked where it is; nothing written yet.
  shown("the first use suggested", buf, 1, 12, 17, "amount")
  check_marks(buf, 1, 12, 17, "amount")
  H.sleep(300)
  same(lines(), expected, "the buffer before accepting")

  -- Jump, then accept with the keys.
  vim.api.nvim_input("<M-e>")
  H.wait("the cursor at the edit", function()
    return vim.deep_equal(vim.api.nvim_win_get_cursor(0), { 2, 12 })
  end, 5000)
  vim.api.nvim_input("<M-y>")
  expected[2] = "    taxed = amount * (1 + rate)"
  H.wait("the first use accepted", function() return H.line(1) == expected[2] end, 5000)
  same(lines(), expected, "only the accepted edit written")
  shown("the next use suggested", buf, 2, 20, 25, "amount")
  check_marks(buf, 2, 20, 25, "amount")

  -- Accept from Lua (the cursor elsewhere): the one after it.
  H.eq(nextedit.accept(), true, "accept() with an edit shown")
  expected[3] = "    rounded = round(amount, 2)"
  H.wait("the second use accepted", function() return H.line(2) == expected[3] end, 5000)
  local last_col = lib_lines[4]:find("price", 1, true) - 1
  shown("the last use suggested", buf, 3, last_col, last_col + 5, "amount")
  same(lines(), expected, "the buffer before dismissing")

  -- Dismiss: cleared, not offered again, nothing written.
  vim.api.nvim_input("<M-x>")
  H.wait("cleared", function() return nextedit.current(buf) == nil and #marks() == 0 end, 5000)
  H.sleep(500)
  H.eq(nextedit.current(), nil, "nothing shown after dismissing")
  same(lines(), expected, "the buffer after dismissing")
  H.eq(nextedit.dismiss(), false, "dismiss() with nothing shown")
  H.eq(nextedit.accept(), false, "accept() with nothing shown")

  local counts
  H.wait("the server counted the events", function()
    counts = H.stats(plugin.client(buf)).next_edit or {}
    return (counts.events_shown or 0) >= 3 and (counts.events_accepted or 0) >= 2 and (counts.events_rejected or 0) >= 1
  end, 10000)
  if (counts.kind_rename or 0) < 1 or (counts.answered_with_edits or 0) < 3 then
    error("next_edit stats: " .. vim.inspect(counts))
  end

  -- The function renamed: its importer, hidden in another buffer, follows.
  vim.api.nvim_win_set_cursor(0, { 1, 4 })
  vim.api.nvim_input("ciwprice_after_tax<Esc>")
  expected[1] = "def price_after_tax(amount, rate):"
  H.wait("the function renamed", function() return H.line(0) == expected[1] end, 5000)
  shown("the import suggested", main_buf, 0, 20, 29, "price_after_tax")
  check_marks(main_buf, 0, 20, 29, "price_after_tax")
  local hint = marks(buf)[1]
  if hint == nil or not hint[4].virt_text[1][1]:find("main.py:1", 1, true) then
    error("no hint of the other file's edit: " .. vim.inspect(marks(buf)))
  end
  same(lines(main_buf), main_lines, "main.py before accepting")
  vim.api.nvim_input("<M-e>")
  H.wait("main.py at the edit", function()
    return vim.api.nvim_get_current_buf() == main_buf and vim.deep_equal(vim.api.nvim_win_get_cursor(0), { 1, 20 })
  end, 5000)
  vim.api.nvim_input("<M-y>")
  local main_expected = vim.deepcopy(main_lines)
  main_expected[1] = "from pricing import price_after_tax"
  H.wait("the import accepted", function() return H.line(0) == main_expected[1] end, 5000)
  shown("the call suggested", main_buf, 3, 6, 15, "price_after_tax")
  vim.api.nvim_input("<M-y>")
  main_expected[4] = "print(price_after_tax(10, 0.2))"
  H.wait("the call accepted", function() return H.line(3) == main_expected[4] end, 5000)
  same(lines(main_buf), main_expected, "main.py after accepting")
  same(lines(buf), expected, "pricing.py, as typed")
end)
