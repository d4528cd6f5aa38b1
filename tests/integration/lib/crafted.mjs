// crafted: a hostile upstream that answers exactly the bytes a test writes, and a gateway with a
// policy pointed at it. For the answer-governance scenarios (docs/POLICY.md "Answers").
//
//   const up = await startCrafted();            // up.url (the /v1 base), up.requests
//   up.answer = (req) => ({ status: 200, json: {...} });          // a plain JSON answer
//   up.answer = (req) => ({ status: 200, sse: ['data: {...}\n\n', ...] });  // raw SSE pieces
//   up.answer = (req) => ({ status: 200, sse: [...], end: false }) // leave the body unended
//   const gw = await startPolicyGateway(scope, up, POLICY);      // {port, dir, keys, proc}
//   await up.close();
import http from 'node:http';
import fsp from 'node:fs/promises';
import path from 'node:path';
import crypto from 'node:crypto';
import { initData, configYaml } from './harness.mjs';

export async function startCrafted() {
    const st = { requests: [], answer: () => ({ status: 500, json: { error: { message: 'unset' } } }) };
    const server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (d) => { body += d; });
        req.on('end', async () => {
            let json;
            try { json = JSON.parse(body); } catch { json = undefined; }
            st.requests.push({ url: req.url, json });
            const a = await st.answer({ url: req.url, json });
            if (a.json !== undefined) {
                const text = typeof a.json === 'string' ? a.json : JSON.stringify(a.json);
                res.writeHead(a.status, { 'content-type': 'application/json' });
                res.end(text);
                return;
            }
            res.writeHead(a.status, { 'content-type': 'text/event-stream' });
            for (const piece of a.sse) {
                res.write(piece);
                await new Promise((r) => setTimeout(r, a.gapMs ?? 5));
            }
            if (a.end === false) res.socket.end(); // close without ending the chunked body
            else res.end();
        });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    st.port = server.address().port;
    st.url = `http://127.0.0.1:${st.port}/v1`;
    st.close = () => new Promise((r) => {
        server.closeAllConnections?.();
        server.close(r);
    });
    return st;
}

// A gateway whose upstream is `up` and whose platform policy is `policyText`.
export async function startPolicyGateway(scope, up, policyText, { data } = {}) {
    data = data || (await initData(scope));
    await fsp.writeFile(path.join(data.dir, 'policy.yaml'), policyText);
    const configPath = path.join(data.dir, 'test-config.yaml');
    await fsp.writeFile(configPath, configYaml({ upstream: up.url }) + 'policy: policy.yaml\n');
    const env = { BULWARK_UPSTREAM_KEY: `sk-upstream-${crypto.randomBytes(8).toString('hex')}` };
    const proc = scope.spawn(['serve', '--data', data.dir, '--config', configPath,
                              '--listen', '127.0.0.1:0'], { env, name: 'bulwark serve' });
    const m = await proc.waitStderr(/bulwark listening on 127\.0\.0\.1:(\d+)/, 15000);
    return { proc, port: Number(m[1]), dir: data.dir, keys: data.keys, data };
}

// A chat.completion with the given choices' messages.
export const completion = (...messages) => ({
    id: 'chatcmpl-crafted', object: 'chat.completion', created: 1, model: 'gpt-4o-mini',
    choices: messages.map((message, index) => ({
        index, message: { role: 'assistant', content: null, ...message },
        finish_reason: message.function_call ? 'function_call' : message.tool_calls ? 'tool_calls' : 'stop',
    })),
    usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 },
});

// One chunk's "data: ...\n\n" event with the given delta (choice 0).
export const chunk = (delta, finish = null, eol = '\n') =>
    `data: ${JSON.stringify({
        id: 'chatcmpl-crafted', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini',
        choices: [{ index: 0, delta, finish_reason: finish }],
    })}${eol}${eol}`;
