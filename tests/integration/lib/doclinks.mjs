// Reference checker for the documents (docs/security/MODEL.md "How to read these pages" has the
// conventions). A document names code in backticks; each such name must exist:
//   `path/to/file`              a repository file (or a glob with * matching at least one file)
//   [text](path)                a markdown link to a repository file (http(s) and #anchors skipped)
//   `name()`                    a function defined in src/ (C definition at column 0, a #define
//                               macro with arguments, or an SQL function in src/store/pg/)
//   `bw_name`                   an identifier that occurs in src/ (function, type, macro)
//   `GET /api/v1/...`           a route in a route table: src/api/*.c or src/cli/cli_routes.c (the composition root)
//   `tests/x/y.test.mjs: "T"`   a node test file that declares test('T') / describe('T')
//   `tests/unit/m/t.c: name`    a cmocka test registered in that file (cmocka_unit_test(name))
// strict mode (docs/security/, SECURITY.md): every backticked token that looks like a repository
// path must exist; lenient mode (other docs): only paths under the top-level source folders.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';

const TOP = ['src/', 'tests/', 'docs/', 'scripts/', 'fuzz/', 'bench/', 'packaging/', '.ci/'];
const ROOT_FILES = ['Makefile', 'README.md', 'SECURITY.md'];
const EXT = /\.(c|h|md|mjs|js|sh|sql|yaml|yml|json|service|1|supp|txt)$/;
const METHODS = 'GET|POST|PUT|PATCH|DELETE|OPTIONS|HEAD';

function walk(dir, out = []) {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.name === 'node_modules' || e.name === '.git' || e.name === 'build') continue;
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p, out);
        else out.push(p);
    }
    return out;
}

// What the repository defines: files, functions, identifiers, routes. Built once per root.
export function indexRepo(root) {
    const files = walk(root).map((p) => relative(root, p));
    const src = files.filter((f) => f.startsWith('src/'));
    const functions = new Set();
    const where = new Map(); // function name -> files that define it (.c) or declare it (.h)
    const at = (name, f) => where.set(name, (where.get(name) || new Set()).add(f));
    const words = new Set();
    const routes = []; // {method|null, path}
    const literals = new Set(); // every "/..." string literal of src/**/*.c
    for (const f of src) {
        const text = readFileSync(join(root, f), 'utf8');
        for (const w of text.match(/\b[A-Za-z_][A-Za-z0-9_]*\b/g) || []) words.add(w);
        if (/\.(c|h)$/.test(f)) {
            // A definition starts at column 0 (the project's style: return type and name on one
            // line) and is not a prototype: the line does not end with ';'.
            for (const line of text.split('\n')) {
                let m = line.match(/^[A-Za-z_][A-Za-z0-9_ \t*]*?\b([A-Za-z_][A-Za-z0-9_]*)\(/);
                if (m && !/^(return|if|while|for|switch)\b/.test(line)) {
                    if (!/;\s*$/.test(line)) functions.add(m[1]);
                    if (!/;\s*$/.test(line) || f.endsWith('.h')) at(m[1], f);
                }
                m = line.match(/^#\s*define\s+([A-Za-z_][A-Za-z0-9_]*)\(/);
                if (m) { functions.add(m[1]); at(m[1], f); }
            }
        }
        if (f.endsWith('.sql'))
            for (const m of text.matchAll(/FUNCTION\s+([a-z_][a-z0-9_]*)\s*\(/gi)) {
                functions.add(m[1]);
                at(m[1], f);
            }
        if (f.endsWith('.c'))
            for (const m of text.matchAll(/"(\/[A-Za-z0-9_./{}-]*)"/g)) literals.add(m[1]);
        const isApi = /^src\/api\/[^/]+\.c$/.test(f);
        if (isApi || f === 'src/cli/cli_routes.c') {
            for (const line of text.split('\n')) {
                const lits = [...line.matchAll(/"(\/[^"\s]*)"/g)].map((m) => m[1]);
                const meth = line.match(/EVHTTP_REQ_([A-Z]+)/);
                for (const p of lits) {
                    if (p === '/api/' || p === '/v1/') continue; // the dispatch prefixes
                    if (isApi && !meth) continue; // API routes live only in the tables
                    routes.push({ method: meth ? meth[1] : null, path: p });
                }
            }
        }
    }
    return { root, files, fileSet: new Set(files), functions, where, words, routes,
        literals };
}

function globToRe(g) {
    // A folder (or a glob naming folders) matches the files under it.
    const body = g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*');
    return new RegExp('^' + body + '(/.*)?$');
}

function fileExists(idx, p, docDir) {
    p = p.replace(/<[^>]*>/g, '*').replace(/N{3,}/g, '*'); // placeholders: src/<module>/, NNNN_
    const cands = [p, join(docDir, p)].map((c) => c.replace(/^\.\//, '').replace(/\/$/, ''));
    for (const c of cands) {
        if (c.includes('*')) {
            const re = globToRe(c);
            if (idx.files.some((f) => re.test(f))) return true;
        } else if (idx.fileSet.has(c) || (existsSync(join(idx.root, c)) &&
                   statSync(join(idx.root, c)).isDirectory() && !c.startsWith('..'))) {
            return true;
        }
    }
    return false;
}

function routeExists(idx, method, path) {
    path = path.split(/[?[]/)[0]; // a query or an optional query ([?x=1]) is not routed
    // Outside /api/ and /v1/ a route may live in its own listener's file (e.g. a metrics
    // listener): a string literal equal to the path anywhere in src/ stands for it.
    if (!/^\/(api|v1|widget)\//.test(path) && idx.literals.has(path)) return true;
    return idx.routes.some((r) => {
        if (r.method && r.method !== method) return false;
        if (r.path === path) return true;
        return r.path.endsWith('/') && path.startsWith(r.path) && path.length > r.path.length;
    });
}

function testExists(idx, file, name) {
    if (!idx.fileSet.has(file)) return `no such test file ${file}`;
    const text = readFileSync(join(idx.root, file), 'utf8');
    if (file.endsWith('.c')) {
        const re = new RegExp(
            `cmocka_unit_test(_setup|_teardown|_setup_teardown)?\\(\\s*${name}\\b`);
        return re.test(text) ? null : `${file} registers no cmocka test ${name}`;
    }
    const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // A quote inside the title may be escaped in the source ('org\'s').
    const q = esc.replace(/'/g, "\\\\?'");
    const re = new RegExp(`\\b(test|it|describe)\\(\\s*(['"\`])${q}\\2`);
    return re.test(text) ? null : `${file} declares no test titled "${name}"`;
}

function looksLikePath(tok, strict) {
    if (/\s/.test(tok) || /^[a-z]+:\/\//.test(tok)) return false;
    // Host paths are not repository files: absolute ones, and DIR/..., OPS/... placeholders.
    if (tok.startsWith('/') || /^[A-Z][A-Z0-9_]*\//.test(tok)) return false;
    if (ROOT_FILES.includes(tok)) return true;
    if (TOP.some((t) => tok.startsWith(t))) return true;
    return strict && EXT.test(tok) && /^[A-Za-z0-9_.*\/-]+$/.test(tok) && tok.includes('/');
}

// Returns the broken references of one document's text: [{line, ref, why}].
export function checkText(idx, docPath, text, { strict }) {
    const errors = [];
    const docDir = dirname(docPath);
    const lines = text.split('\n');
    let fence = false;
    lines.forEach((line, i) => {
        if (/^\s*```/.test(line)) { fence = !fence; return; }
        if (fence) return;
        const bad = (ref, why) => errors.push({ line: i + 1, ref, why });
        for (const m of line.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
            const target = m[1].split('#')[0];
            if (!target || /^[a-z]+:/.test(m[1])) continue;
            if (!fileExists(idx, target, docDir)) bad(m[1], 'link target does not exist');
        }
        // `name()` (`src/x.c`) and `name()` in `src/x.c`: the function must be in that file.
        for (const m of line.matchAll(/`([A-Za-z_]\w*)\(\)`(?: \(|, | in )`(src\/[^`]+\.[ch])`/g)) {
            if (idx.functions.has(m[1]) && !(idx.where.get(m[1]) || new Set()).has(m[2]))
                bad(`${m[1]}() in ${m[2]}`, `${m[1]}() is not defined in ${m[2]}`);
        }
        for (const m of line.matchAll(/`([^`]+)`/g)) {
            const tok = m[1].trim();
            let t;
            if ((t = tok.match(/^(tests\/\S+\.test\.mjs):\s*"(.+)"$/))) {
                const why = testExists(idx, t[1], t[2]);
                if (why) bad(tok, why);
            } else if ((t = tok.match(/^(tests\/unit\/\S+\.c):\s*([A-Za-z_][A-Za-z0-9_]*)$/))) {
                const why = testExists(idx, t[1], t[2]);
                if (why) bad(tok, why);
            } else if ((t = tok.match(new RegExp(`^(${METHODS}) (/[^\\s\`]*)$`)))) {
                if (!routeExists(idx, t[1], t[2])) bad(tok, 'no such route in the route tables');
            } else if ((t = tok.match(/^([A-Za-z_][A-Za-z0-9_]*)\(\)$/))) {
                if (!idx.functions.has(t[1])) bad(tok, 'no such function defined in src/');
            } else if (strict && /^(bw|BW)_[A-Za-z0-9_]+$/.test(tok)) {
                if (!idx.words.has(tok)) bad(tok, 'no such identifier in src/');
            } else if (looksLikePath(tok, strict)) {
                if (!fileExists(idx, tok, docDir)) bad(tok, 'no such file');
            }
        }
    });
    return errors;
}

export function checkFile(idx, rel, opts) {
    return checkText(idx, rel, readFileSync(join(idx.root, rel), 'utf8'), opts);
}
