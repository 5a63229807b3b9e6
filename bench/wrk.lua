-- wrk script for bench/ (see bench/wrk.py): sends requests in turn from a pool built
-- once, and prints the results as one JSON line that bench/wrk.py reads.
--
-- Arguments after `--`: METHOD PATH TOKENS_FILE BODIES_FILE [PATHS_FILE]
--   TOKENS_FILE: one access token a line, sent as `Authorization: Bearer`, in turn; "-" for none
--   BODIES_FILE: one JSON request body a line, in turn; "-" for none
--   PATHS_FILE: one path a line, in turn with the tokens (each user's own book), instead of PATH

local pool = {}
local position = 0

local function lines(path)
  local found = {}
  if path ~= nil and path ~= "-" then
    for line in io.lines(path) do
      if line ~= "" then
        found[#found + 1] = line
      end
    end
  end
  return found
end

function init(args)
  local method, path = args[1], args[2]
  local tokens, bodies, paths = lines(args[3]), lines(args[4]), lines(args[5])
  for i = 1, math.max(#tokens, #bodies, 1) do
    if #paths > 0 then
      path = paths[(i - 1) % #paths + 1]
    end
    local headers, body = {}, nil
    if #tokens > 0 then
      headers["Authorization"] = "Bearer " .. tokens[(i - 1) % #tokens + 1]
    end
    if #bodies > 0 then
      body = bodies[(i - 1) % #bodies + 1]
      headers["Content-Type"] = "application/json"
    end
    pool[i] = wrk.format(method, path, headers, body)
  end
end

function request()
  position = position % #pool + 1
  return pool[position]
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
    summary.requests, summary.duration,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
