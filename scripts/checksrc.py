#!/usr/bin/env python3
"""checksrc: fails on calls to banned C functions in src/ (in the style of curl's checksrc.pl).

Usage: scripts/checksrc.py [ROOT]   (ROOT defaults to the repository; scans ROOT/src)

Comments, string literals and character literals are blanked first, so prose that names a
banned function does not count. A justified use goes in scripts/checksrc.allow as
`path function  # reason` (path relative to ROOT); an allowlist line that matches nothing fails
too, so the list cannot go stale. A BW_IGNORE(...) (util/err.h: dropping a BW_MUST_CHECK result)
needs a comment on its line or the line above. Exits 1 on any finding.
"""
import os
import re
import sys

# name -> why it is banned (printed with each finding)
BANNED = {
    "strcpy": "unbounded copy; use memcpy with a checked length or snprintf",
    "strcat": "unbounded append; use struct bw_buf",
    "strncat": "easy to get the size wrong; use struct bw_buf",
    "strncpy": "does not NUL-terminate on truncation; use snprintf or memcpy with a checked length",
    "sprintf": "unbounded; use snprintf",
    "vsprintf": "unbounded; use vsnprintf",
    "gets": "unbounded read; use fgets",
    "strtok": "not reentrant (hidden static state); use strtok_r or a bounded cursor",
    "atoi": "no error detection; use strtol with end-pointer and range checks",
    "atol": "no error detection; use strtol with end-pointer and range checks",
    "atoll": "no error detection; use strtoll with end-pointer and range checks",
    "atof": "no error detection; use strtod with end-pointer checks",
    "sscanf": "silent partial matches and unbounded %s; parse with strtol or a cursor",
    "vsscanf": "silent partial matches and unbounded %s; parse with strtol or a cursor",
    "alloca": "unbounded stack allocation",
    "tmpnam": "race between name and create; use mkstemp",
    "tempnam": "race between name and create; use mkstemp",
    "mktemp": "race between name and create; use mkstemp",
    "rand": "not a CSPRNG; use randombytes_buf (libsodium)",
    "srand": "not a CSPRNG; use randombytes_buf (libsodium)",
    "system": "shell injection; use posix_spawn/execve with an argument vector",
    "popen": "shell injection; use posix_spawn/execve with an argument vector",
    "asctime": "static buffer, not thread-safe; use strftime",
    "ctime": "static buffer, not thread-safe; use ctime_r or strftime",
    "gmtime": "static buffer, not thread-safe; use gmtime_r",
    "localtime": "static buffer, not thread-safe; use localtime_r",
    "setjmp": "skips cleanup; return bw_err",
    "longjmp": "skips cleanup; return bw_err",
}
CALL = re.compile(r"(?<![A-Za-z0-9_.>])(" + "|".join(BANNED) + r")\s*\(")


def blank(text):
    """Replaces comments and string/char literals by spaces, keeping newlines (and so lines)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def load_allow(root):
    allow = {}
    path = os.path.join(root, "scripts", "checksrc.allow")
    if not os.path.exists(path):
        return allow
    with open(path, encoding="utf-8") as f:
        for num, line in enumerate(f, 1):
            body = line.split("#", 1)[0].split()
            if not body:
                continue
            if len(body) != 2 or "#" not in line:
                sys.exit(f"checksrc.allow:{num}: want 'path function  # reason'")
            allow[(body[0], body[1])] = num
    return allow


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    root = os.path.abspath(root)
    allow = load_allow(root)
    used = set()
    bad = 0
    for d, _, files in sorted(os.walk(os.path.join(root, "src"))):
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(d, name)
            rel = os.path.relpath(path, root)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = blank(f.read())
            raw = open(path, encoding="utf-8", errors="replace").read().split("\n")
            for num, line in enumerate(text.split("\n"), 1):
                # BW_IGNORE drops a BW_MUST_CHECK result: the reason must be written next to it.
                if "BW_IGNORE(" in line and not rel.endswith("util/err.h"):
                    near = raw[num - 1] + (raw[num - 2] if num >= 2 else "")
                    if "/*" not in near and "//" not in near:
                        print(f"{rel}:{num}: BW_IGNORE without a comment saying why")
                        bad += 1
                for m in CALL.finditer(line):
                    fn = m.group(1)
                    if (rel, fn) in allow:
                        used.add((rel, fn))
                        continue
                    print(f"{rel}:{num}: banned function {fn}(): {BANNED[fn]}")
                    bad += 1
    for key, num in sorted(allow.items(), key=lambda kv: kv[1]):
        if key not in used:
            print(f"scripts/checksrc.allow:{num}: {key[0]} {key[1]} matches nothing; remove it")
            bad += 1
    if bad:
        print(f"checksrc: {bad} finding(s)", file=sys.stderr)
        return 1
    print("checksrc: no banned function in src/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
