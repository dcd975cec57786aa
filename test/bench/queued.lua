-- wrk script for the queued-compatible API (test/bench/queued-http.ts runs it). Each thread sends a
-- push, then a poll (lease 30 s), and deletes every polled message with its tag as soon as the
-- poll's answer arrives, so the mix is push : poll : delete ≈ 1 : 1 : 1. QUEUES lists one queue per
-- shard in shard order: a message id's shard (id mod shards) names the queue to delete it from.

local queues = {}
local pending = {}
local step = 0

function init(args)
  for name in string.gmatch(os.getenv("QUEUES") or "default", "[^,]+") do table.insert(queues, name) end
  wrk.headers["Content-Type"] = "application/json"
end

local push_body = '{"contents":"' .. string.rep("x", 100) .. '"}'
local poll_body = '{"visibility_timeout_secs":30}'

function request()
  if #pending > 0 then
    local delete = table.remove(pending, 1)
    return wrk.format("POST", delete[1], nil, delete[2])
  end
  step = step + 1
  local queue = queues[(math.floor(step / 2) % #queues) + 1]
  if step % 2 == 1 then
    return wrk.format("POST", "/push?queue=" .. queue, nil, push_body)
  end
  return wrk.format("POST", "/poll?queue=" .. queue, nil, poll_body)
end

function response(status, headers, body)
  if status ~= 200 then return end
  local id, tag = string.match(body, '"id":(%d+),"poll_count":%d+,"poll_tag":"(%x+)"')
  if id ~= nil then
    local queue = queues[(tonumber(id) % #queues) + 1]
    table.insert(pending, { "/delete?queue=" .. queue, '{"id":' .. id .. ',"poll_tag":"' .. tag .. '"}' })
  end
end
