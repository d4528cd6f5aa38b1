// prometheus: parses a text exposition with the Prometheus project's own parser
// (prometheus_client.parser, Debian's python3-prometheus-client; scripts/deps.sh installs it),
// which refuses any line that is not valid text format 0.0.4. Returns
// [{name, type, help, samples: [{name, labels, value}]}]; throws with the parser's message.
import { spawnSync } from 'node:child_process';

const SCRIPT = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]})
print(json.dumps(out))
`;

export function parsePrometheus(text) {
    // Debian's interpreter: a pyenv or venv python3 first on PATH would not have the package.
    const r = spawnSync('/usr/bin/python3', ['-c', SCRIPT], { input: text, encoding: 'utf8',
                                                             timeout: 30000, maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`prometheus parser refused the exposition: ${r.stderr}`);
    return JSON.parse(r.stdout);
}

// The value of the one sample called `name` whose labels include `labels` (0 if none).
export function sampleValue(families, name, labels = {}) {
    let total = 0;
    for (const f of families)
        for (const s of f.samples)
            if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
                total += s.value;
    return total;
}
