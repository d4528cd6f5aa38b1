-- mcp_call.lua: wrk script for bench/mcp_overhead.sh. POSTs one MCP `tools/call` of `echo`
-- (JSON-RPC 2.0) on the session named by MCP_SESSION, with the agent key from BULWARK_AGENT_KEY
-- when set (the direct mock-mcp ignores it). done() prints the line mcp_overhead.sh parses.
local key = os.getenv("BULWARK_AGENT_KEY") or ""
local session = os.getenv("MCP_SESSION") or ""

wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello from wrk"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
wrk.headers["Mcp-Session-Id"] = session
if key ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. key
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d rps=%.2f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
      "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
