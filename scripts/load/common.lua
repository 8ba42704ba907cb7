-- Shared by the wrk scenarios of scripts/load-test.sh: counts responses per HTTP status in every
-- wrk thread and prints one machine-readable RESULT line at the end (load-test.sh parses it).
-- Each scenario file sets `scenario` and defines `request` before loading this one.
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  codes = {}
  math.randomseed(os.time() + id * 7919)
  if scenario_init then scenario_init(args) end
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
  -- The API says whether a speech answer came from the cache; a miss on the cache path is synthesis.
  local c = headers["x-polyvox-cache"] or headers["X-Polyvox-Cache"]
  if c then codes["cache_" .. c] = (codes["cache_" .. c] or 0) + 1 end
  -- A refusal must say when to come back (the load test's verdict counts those that do not).
  if status == 429 and not (headers["retry-after"] or headers["Retry-After"]) then
    codes["no_retry_after"] = (codes["no_retry_after"] or 0) + 1
  end
end

function done(summary, latency, requests)
  local agg = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes")) do agg[k] = (agg[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(agg) do table.insert(parts, tostring(k) .. ":" .. v) end
  table.sort(parts)
  local e = summary.errors
  io.write(string.format(
    "RESULT scenario=%s requests=%d secs=%.1f rps=%.0f p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f " ..
    "non2xx=%d connect=%d read=%d write=%d timeout=%d no_retry_after=%d codes=%s\n",
    scenario, summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, e.status, e.connect, e.read, e.write, e.timeout, agg["no_retry_after"] or 0,
    table.concat(parts, ",")))
end
