-- evidence_receipts.lua: wrk script for bench/evidence_http.sh. GETs
-- /api/v1/receipts/<KEYID>.<random index below N> with the agent key (env BULWARK_AGENT_KEY,
-- RECEIPT_KEYID, RECEIPT_N); done() prints one machine-readable line.
local key = os.getenv("BULWARK_AGENT_KEY") or ""
local keyid = os.getenv("RECEIPT_KEYID") or ""
local n = tonumber(os.getenv("RECEIPT_N") or "1")

function init(args)
   math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
end

function request()
   local path = "/api/v1/receipts/" .. keyid .. "." .. math.random(0, n - 1)
   return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. key })
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d rps=%.2f p50_us=%d p90_us=%d p99_us=%d max_us=%d err_status=%d " ..
      "err_socket=%d\n",
      summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50),
      latency:percentile(90), latency:percentile(99), latency.max, e.status,
      e.connect + e.read + e.write + e.timeout))
end
