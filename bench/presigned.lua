-- wrk script for bench_webhooks.py: replays a file of pre-signed HubSpot webhook requests.
--
-- BENCH_REQUESTS names a file with one request per line: "<timestamp_ms>\t<signature>\t<body>".
-- BENCH_HOST is the Host header (the signature covers http://<host>/webhooks/hubspot).
-- BENCH_THREADS is wrk's -t: thread k takes lines k, k+t, k+2t ... so threads never share a
-- request. A thread that runs past its share starts again from its first line (those repeats
-- come back as duplicates and are counted as such, not as fresh acknowledgements).
-- done() prints one line "BENCH_RESULT {json}" that bench_webhooks.py parses.

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local path = assert(os.getenv("BENCH_REQUESTS"), "BENCH_REQUESTS not set")
  local host = assert(os.getenv("BENCH_HOST"), "BENCH_HOST not set")
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  reqs = {}
  local line_no = 0
  for line in io.lines(path) do
    if line_no % nthreads == id - 1 then
      local ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      reqs[#reqs + 1] = "POST /webhooks/hubspot HTTP/1.1\r\n"
        .. "Host: " .. host .. "\r\n"
        .. "Content-Type: application/json\r\n"
        .. "X-HubSpot-Request-Timestamp: " .. ts .. "\r\n"
        .. "X-HubSpot-Signature-v3: " .. sig .. "\r\n"
        .. "Content-Length: " .. #body .. "\r\n\r\n"
        .. body
    end
    line_no = line_no + 1
  end
  n = #reqs
  idx = 0
  sent = 0
  wrapped = 0
  ok = 0
  fresh = 0
  non200 = 0
end

function request()
  idx = idx + 1
  if idx > n then
    idx = 1
    wrapped = wrapped + 1
  end
  sent = sent + 1
  return reqs[idx]
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
    -- the hub answers {"received": 10, "duplicates": 0} for a fresh 10-event batch
    if body and body:find('"received": 10,', 1, true) then
      fresh = fresh + 1
    end
  else
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local t = { sent = 0, ok = 0, fresh = 0, non200 = 0, wrapped = 0, loaded = 0 }
  for _, thread in ipairs(threads) do
    t.sent = t.sent + thread:get("sent")
    t.ok = t.ok + thread:get("ok")
    t.fresh = t.fresh + thread:get("fresh")
    t.non200 = t.non200 + thread:get("non200")
    t.wrapped = t.wrapped + thread:get("wrapped")
    t.loaded = t.loaded + thread:get("n")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"duration_us": %d, "completed": %d, "sent": %d, "ok": %d, "fresh": %d, '
      .. '"non200": %d, "wrapped": %d, "loaded": %d, "err_connect": %d, "err_read": %d, '
      .. '"err_write": %d, "err_timeout": %d, "lat_p50_us": %d, "lat_p99_us": %d, '
      .. '"lat_max_us": %d}\n',
    summary.duration, summary.requests, t.sent, t.ok, t.fresh, t.non200, t.wrapped, t.loaded,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
