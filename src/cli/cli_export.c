/* bulwark export: writes a deterministic evidence pack from a data directory, offline.
 *
 * Reads DIR/ledger/log without the writer lock (the file is append-only; only the prefix up to
 * the last complete checkpoint is used), so it works whether or not the gateway is running. The
 * manifest is signed with DIR/ledger/signing.key. Format: docs/EVIDENCE.md "Evidence pack". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "evidence/db_policies.h"
#include "evidence/pack.h"
#include "ledger/ledger.h"
#include "ledger/note.h"
#include "store/store.h"

#define PATH_SIZE 4096
#define MAX_POLICY_ARGS 16
#define MAX_CANDIDATES 64
#define OUT_BUF (1u << 20)

static const char usage[] =
    "usage: bulwark export --data DIR --out PACK [--org ID] [--since TIME] [--policy FILE]...\n"
    "\n"
    "Writes an evidence pack (a ustar archive, docs/EVIDENCE.md) of the ledger in DIR/ledger:\n"
    "receipts, an inclusion proof per receipt, signed checkpoints, consistency proofs, the\n"
    "policy files the receipts reference (DIR/bulwark.yaml, other DIR/*.yaml, and every\n"
    "--policy FILE, included when their SHA-256 is referenced), and a manifest signed by the\n"
    "log key. --org ID exports that org's receipts only (others appear only as hashes inside\n"
    "proofs). --since TIME keeps receipts with time >= TIME (Unix milliseconds, or\n"
    "YYYY-MM-DDTHH:MM:SSZ). Works while the gateway runs. Same ledger in, same bytes out.\n";

struct export_args {
    const char *dir, *out, *org, *since;
    const char *policies[MAX_POLICY_ARGS];
    size_t npolicies;
};

static int parse_args(int argc, char **argv, struct export_args *a) {
    const struct bw_cmd *cmd = &bw_cmd_export;
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (i + 1 >= argc)
            return bw_cli_usage_error(cmd, "%s needs a value or is unknown", k);
        const char *v = argv[++i];
        if (strcmp(k, "--data") == 0)
            a->dir = v;
        else if (strcmp(k, "--out") == 0)
            a->out = v;
        else if (strcmp(k, "--org") == 0)
            a->org = v;
        else if (strcmp(k, "--since") == 0)
            a->since = v;
        else if (strcmp(k, "--policy") == 0 && a->npolicies < MAX_POLICY_ARGS)
            a->policies[a->npolicies++] = v;
        else
            return bw_cli_usage_error(cmd, "unknown or repeated option %s", k);
    }
    if (!a->dir || !a->out)
        return bw_cli_usage_error(cmd, "--data and --out are required");
    return 0;
}

/* n decimal digits at s (no sign). */
static int digits(const char *s, size_t n, long long *out) {
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* Unix milliseconds, or RFC 3339 "YYYY-MM-DDTHH:MM:SSZ" (UTC only). */
static int parse_since(const char *s, int64_t *out) {
    size_t n = strlen(s);
    long long v = 0;
    if (n >= 1 && n <= 15 && digits(s, n, &v)) {
        *out = v;
        return 1;
    }
    long long y, mo, d, h, mi, se;
    if (n != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[19] != 'Z' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
        return 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return 0;
    struct tm tm = {0};
    tm.tm_year = (int)(y - 1900);
    tm.tm_mon = (int)(mo - 1);
    tm.tm_mday = (int)d;
    tm.tm_hour = (int)h;
    tm.tm_min = (int)mi;
    tm.tm_sec = (int)se;
    time_t t = timegm(&tm);
    if (t < 0)
        return 0;
    *out = (int64_t)t * 1000;
    return 1;
}

/* Candidate policy files: DIR's own YAML files, then every --policy FILE. */
static size_t candidates(const struct export_args *a, char (*paths)[BW_PACK_PATH_MAX],
                         const char **out) {
    size_t n = bw_evidence_policy_candidates(a->dir, paths, MAX_CANDIDATES - MAX_POLICY_ARGS);
    for (size_t i = 0; i < n; i++)
        out[i] = paths[i];
    for (size_t i = 0; i < a->npolicies; i++)
        out[n++] = a->policies[i];
    return n;
}

/* Buffered writes to the temporary output file. */
struct file_sink {
    int fd;
    char *buf;
    size_t len;
};

static bw_err flush_sink(struct file_sink *f) {
    size_t off = 0;
    while (off < f->len) {
        ssize_t w = write(f->fd, f->buf + off, f->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return BW_E_IO;
        off += (size_t)w;
    }
    f->len = 0;
    return BW_OK;
}

static bw_err file_write(void *ctx, const void *p, size_t n) {
    struct file_sink *f = ctx;
    while (n > 0) {
        if (f->len == OUT_BUF)
            BW_TRY(flush_sink(f));
        size_t take = OUT_BUF - f->len < n ? OUT_BUF - f->len : n;
        memcpy(f->buf + f->len, p, take);
        f->len += take;
        p = (const uint8_t *)p + take;
        n -= take;
    }
    return BW_OK;
}

static bw_err sign_offline(void *ctx, const char *text, size_t len, struct bw_buf *out) {
    return bw_ledger_sign_statement(ctx, text, len, out);
}

/* Exports into tmp, then renames over out so a reader never sees a partial pack. */
static int write_pack(const struct export_args *a, struct bw_evidence_export_opts *o) {
    const struct bw_cmd *cmd = &bw_cmd_export;
    char tmp[PATH_SIZE + 32], why[256];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", a->out, (long)getpid());
    struct file_sink f = {open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644), malloc(OUT_BUF),
                          0};
    if (f.fd < 0 || !f.buf) {
        if (f.fd >= 0)
            close(f.fd);
        free(f.buf);
        return bw_cli_fail(cmd, "cannot create %s", tmp);
    }
    struct bw_evidence_sink sink = {file_write, &f, 0};
    bw_err e = bw_evidence_export(o, &sink, why, sizeof why);
    if (e == BW_OK)
        e = flush_sink(&f);
    if (e == BW_OK && fsync(f.fd) != 0)
        e = BW_E_IO;
    if (close(f.fd) != 0 && e == BW_OK)
        e = BW_E_IO;
    free(f.buf);
    if (e == BW_OK && rename(tmp, a->out) != 0)
        e = BW_E_IO;
    if (e != BW_OK) {
        unlink(tmp);
        return bw_cli_fail(cmd, "%s", why[0] ? why : "cannot write the pack");
    }
    fprintf(stderr, "bulwark export: wrote %s (%llu bytes)\n", a->out,
            (unsigned long long)sink.written);
    return 0;
}

/* Org policies live in the database: every stored version the receipts may name. A database
 * that cannot be read leaves them out (the pack then lists them in missing-policies.txt, which
 * the verifier reports): the export of the log itself does not depend on it. */
static void load_db_policies(const struct export_args *a, struct bw_db_policies *out) {
    char path[PATH_SIZE], err[600], db[PATH_SIZE];
    struct bw_config cfg;
    bw_config_defaults(&cfg);
    snprintf(path, sizeof path, "%s/bulwark.yaml", a->dir);
    if (bw_config_load(path, &cfg, err, sizeof err) == BW_OK && cfg.database[0])
        snprintf(db, sizeof db, "%s", cfg.database);
    else
        snprintf(db, sizeof db, "%s/bulwark.db", a->dir);
    bw_config_cleanup(&cfg);
    struct bw_store *s = NULL;
    if (bw_store_open(db, 0, &s) != BW_OK || bw_db_policies_load(out, s, a->org) != BW_OK)
        fprintf(stderr, "bulwark export: warning: org policies could not be read from the "
                        "database; the pack lists the ones it lacks\n");
    bw_store_close(s);
}

static int export_with(const struct export_args *a, struct bw_note_signer *signer,
                       const char *ledger_dir) {
    char vkey[BW_NOTE_VKEY_MAX];
    struct bw_note_verifier v;
    if (bw_note_signer_vkey(signer, vkey, sizeof vkey) != BW_OK ||
        bw_note_verifier_parse(vkey, strlen(vkey), &v) != BW_OK)
        return bw_cli_fail(&bw_cmd_export, "cannot derive the log's verifier key");
    static char paths[MAX_CANDIDATES][BW_PACK_PATH_MAX]; /* CLI: main thread only */
    const char *cand[MAX_CANDIDATES];
    struct bw_evidence_export_opts o = {
        .ledger_dir = ledger_dir,
        .origin = bw_note_signer_name(signer),
        .verifier = &v,
        .org_id = a->org,
        .max_size = UINT64_MAX,
        .policy_paths = cand,
        .n_policy_paths = candidates(a, paths, cand),
        .sign = sign_offline,
        .sign_ctx = signer,
    };
    if (a->since && !parse_since(a->since, &o.since_ms))
        return bw_cli_usage_error(&bw_cmd_export, "--since must be Unix ms or "
                                                  "YYYY-MM-DDTHH:MM:SSZ");
    struct bw_db_policies dbp = {NULL, 0, 0};
    load_db_policies(a, &dbp);
    o.policy_blobs = dbp.blobs;
    o.n_policy_blobs = dbp.n;
    int rc = write_pack(a, &o);
    bw_db_policies_cleanup(&dbp);
    return rc;
}

static int run(int argc, char **argv) {
    if (bw_cli_wants_help(&bw_cmd_export, argc, argv))
        return 0;
    struct export_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    char ledger_dir[PATH_SIZE];
    if (snprintf(ledger_dir, sizeof ledger_dir, "%s/ledger", a.dir) >= (int)sizeof ledger_dir)
        return bw_cli_usage_error(&bw_cmd_export, "--data path too long");
    struct bw_note_signer *signer = NULL;
    bw_err e = bw_ledger_load_signer(ledger_dir, &signer);
    if (e != BW_OK)
        return bw_cli_fail(&bw_cmd_export, "cannot load the log key in %s: %s", ledger_dir,
                           bw_err_str(e));
    rc = export_with(&a, signer, ledger_dir);
    bw_note_signer_free(signer);
    return rc;
}

const struct bw_cmd bw_cmd_export = {
    .name = "export",
    .summary = "export a signed, deterministic evidence pack",
    .usage = usage,
    .run = run,
};
