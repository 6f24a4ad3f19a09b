-- Requests to the server while the user types: deferred until a pause, and cancelled while
-- still pending when the text they were for is gone.
local M = {}

--- Cancel ``running`` ({ client, id }) only while it is still pending: one already answered is
--- unknown to the server (its reply may be queued here, ahead of our callback), and cancelling
--- it only logs errors on both sides.
function M.cancel(running)
  local request = running and running.client.requests[running.id]
  if request and request.type == "pending" then
    pcall(running.client.cancel_request, running.client, running.id)
  end
end

--- Run ``fn`` on the main loop ``ms`` after the last call for ``buf`` (its timer in ``timers``
--- restarts at each call).
function M.after_pause(timers, buf, ms, fn)
  local timer = timers[buf]
  if timer == nil then
    timer = vim.uv.new_timer()
    timers[buf] = timer
  end
  timer:stop()
  timer:start(ms, 0, vim.schedule_wrap(fn))
end

return M
