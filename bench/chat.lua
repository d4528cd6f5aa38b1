-- chat.lua: wrk script for bench/run.sh. POSTs a small chat completion to the URL given to wrk
-- (…/v1/chat/completions), with the agent key from BULWARK_AGENT_KEY when set (the direct mock
-- and nginx ignore it). done() prints one machine-readable line that run.sh parses.
-- With PORTKEY_CUSTOM_HOST set (run.sh sets it for the portkey target only) it adds the two
-- headers that make Portkey's gateway forward to the mock as an OpenAI-compatible provider; the
-- request is otherwise the same bytes for every target.
local key = os.getenv("BULWARK_AGENT_KEY") or ""
local portkey_host = os.getenv("PORTKEY_CUSTOM_HOST") or ""

wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":16}'
wrk.headers["Content-Type"] = "application/json"
if key ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. key
end
if portkey_host ~= "" then
   wrk.headers["x-portkey-provider"] = "openai"
   wrk.headers["x-portkey-custom-host"] = portkey_host
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
