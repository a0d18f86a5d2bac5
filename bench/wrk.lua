-- wrk script for bench/run.py: sets the method and a request body from the
-- environment, and prints one machine-readable summary line at the end.
--
--   BENCH_METHOD     GET (default) or POST
--   BENCH_BODY_SIZE  bytes of request body to send (POST only)

local method = os.getenv("BENCH_METHOD") or "GET"
local body_size = tonumber(os.getenv("BENCH_BODY_SIZE") or "0")

wrk.method = method
if body_size > 0 then
   wrk.body = string.rep("b", body_size)
   wrk.headers["Content-Type"] = "application/octet-stream"
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH-JSON {\"requests\": %d, \"duration_us\": %d, \"bytes\": %d, " ..
      "\"err_connect\": %d, \"err_read\": %d, \"err_write\": %d, " ..
      "\"err_status\": %d, \"err_timeout\": %d, " ..
      "\"lat_mean_us\": %.1f, \"lat_max_us\": %d, " ..
      "\"lat_p50_us\": %d, \"lat_p90_us\": %d, \"lat_p99_us\": %d}\n",
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.max,
      latency:percentile(50.0), latency:percentile(90.0),
      latency:percentile(99.0)))
end
