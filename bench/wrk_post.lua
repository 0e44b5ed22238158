-- POST one AdmissionReview body over and over, and report what the server answered, not only how fast.
--
-- The body comes from the file named by WRK_BODY_FILE (read once per thread, sent byte for byte) with
-- Content-Type application/json, which the webhooks require. wrk counts only HTTP >= 400 as errors, so
-- `response` counts every non-2xx answer and every answer that is not `"allowed": true` itself: a server
-- that starts failing, or denying, under load is reported instead of looking fast. wrk records a request's
-- latency before calling `response`, so the check is not part of the measured time.
--
-- `done` prints one line, `WRK_RESULT {json}`, with the counts and the latency percentiles in microseconds;
-- bench/webhook.py parses it.

local path = os.getenv("WRK_BODY_FILE")
if path == nil or path == "" then
  error("WRK_BODY_FILE must name the request body file")
end
local file = assert(io.open(path, "rb"))
local body = file:read("*a")
file:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

non_2xx = 0
not_allowed = 0

function response(status, headers, answer)
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
  elseif not string.find(answer, '"allowed":%s*true') then
    not_allowed = not_allowed + 1
  end
end

function done(summary, latency, requests)
  local bad_status, denied = 0, 0
  for _, thread in ipairs(threads) do
    bad_status = bad_status + thread:get("non_2xx")
    denied = denied + thread:get("not_allowed")
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"non_2xx":%d,"not_allowed":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, errors.connect, errors.read,
    errors.write, errors.status, errors.timeout, bad_status, denied,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
