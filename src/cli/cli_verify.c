/* bulwark verify: checks an evidence pack offline against one pinned verifier key.
 *
 * Trusts only --trust (the public_key printed by init, or @FILE holding it): nothing in the
 * pack can vouch for itself. No network, no database. Each check is reported by name
 * (docs/EVIDENCE.md "Verification"); exit 0 only if all pass. */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "evidence/pack.h"
#include "ledger/note.h"

static const char usage[] =
    "usage: bulwark verify --trust VKEY|@FILE PACK [--json] [--allow-missing-policies]\n"
    "\n"
    "Verifies an evidence pack written by `bulwark export` using only the verifier key given\n"
    "(the public_key that `bulwark init` printed): manifest signature, file hashes, checkpoint\n"
    "signatures, consistency, receipts canonical and in the documented profile of their kind,\n"
    "inclusion proofs, sequence (the statement's range claims), decision links, policies,\n"
    "per-receipt DSSE signatures when present. Prints one line per check\n"
    "(or a JSON report with --json). Exit 0 if all pass, 1 if any fails, 2 on misuse.\n";

struct verify_args {
    const char *trust, *pack;
    int json, allow_missing;
};

static int parse_args(int argc, char **argv, struct verify_args *a) {
    const struct bw_cmd *cmd = &bw_cmd_verify;
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            a->json = 1;
        else if (strcmp(argv[i], "--allow-missing-policies") == 0)
            a->allow_missing = 1;
        else if (strcmp(argv[i], "--trust") == 0 && i + 1 < argc && !a->trust)
            a->trust = argv[++i];
        else if (argv[i][0] != '-' && !a->pack)
            a->pack = argv[i];
        else
            return bw_cli_usage_error(cmd, "unexpected argument %s", argv[i]);
    }
    if (!a->trust || !a->pack)
        return bw_cli_usage_error(cmd, "--trust and PACK are required");
    return 0;
}

/* The key string itself, or the first line of @FILE. */
static int load_trust(const char *arg, struct bw_note_verifier *v) {
    char buf[BW_NOTE_VKEY_MAX + 8];
    size_t n = strlen(arg);
    if (arg[0] == '@') {
        FILE *f = fopen(arg + 1, "r");
        if (!f)
            return 0;
        n = fread(buf, 1, sizeof buf - 1, f);
        (void)fclose(f); /* read only: a close error loses nothing */
        buf[n] = 0;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
            buf[--n] = 0;
        arg = buf;
    }
    return bw_note_verifier_parse(arg, n, v) == BW_OK;
}

static void print_text(const struct bw_evidence_report *r, const char *pack) {
    printf("pack %s\nlog %s\nscope %s\nreceipts %llu, checkpoints %llu, final size %llu\n", pack,
           r->origin, r->scope[0] ? r->scope : "(untrusted)", (unsigned long long)r->receipts,
           (unsigned long long)r->checkpoints, (unsigned long long)r->size);
    for (int c = 0; c < BW_CHECK_COUNT; c++) {
        const char *d = r->detail[c];
        printf("%-5s %s%s%s\n", bw_evidence_status_name(r->status[c]),
               bw_evidence_check_name((enum bw_evidence_check)c), d[0] ? ": " : "", d);
    }
    printf("%s\n", r->ok ? "OK" : "FAILED");
}

static int print_json(const struct bw_evidence_report *r, const char *pack) {
    json_t *checks = json_array();
    for (int c = 0; c < BW_CHECK_COUNT; c++)
        json_array_append_new(checks, json_pack("{s:s, s:s, s:s}", "name",
                                                bw_evidence_check_name((enum bw_evidence_check)c),
                                                "status", bw_evidence_status_name(r->status[c]),
                                                "detail", r->detail[c]));
    json_t *missing = json_array();
    for (size_t i = 0; i < r->n_missing_policies && i < 16; i++)
        json_array_append_new(missing, json_string(r->missing_policies[i]));
    json_t *o = json_pack(
        "{s:b, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o}", "ok", r->ok, "pack", pack, "origin",
        r->origin, "scope", r->scope, "receipts", (json_int_t)r->receipts, "checkpoints",
        (json_int_t)r->checkpoints, "size", (json_int_t)r->size, "missing_policy_count",
        (json_int_t)r->n_missing_policies, "missing_policies", missing, "checks", checks);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return bw_cli_fail(&bw_cmd_verify, "cannot encode the report");
    printf("%s\n", text);
    free(text);
    return r->ok ? 0 : 1;
}

static int verify_mapped(const struct verify_args *a, const struct bw_note_verifier *v,
                         const uint8_t *p, size_t len) {
    struct bw_evidence_report *r = calloc(1, sizeof *r);
    if (!r)
        return bw_cli_fail(&bw_cmd_verify, "out of memory");
    struct bw_evidence_verify_opts o = {a->allow_missing};
    bw_err e = bw_evidence_verify(p, len, v, &o, r);
    int rc = 1;
    if (e == BW_E_NOMEM)
        rc = bw_cli_fail(&bw_cmd_verify, "out of memory");
    else if (a->json)
        rc = print_json(r, a->pack);
    else {
        print_text(r, a->pack);
        rc = r->ok ? 0 : 1;
    }
    free(r);
    return rc;
}

static int run(int argc, char **argv) {
    if (bw_cli_wants_help(&bw_cmd_verify, argc, argv))
        return 0;
    struct verify_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    struct bw_note_verifier v;
    if (!load_trust(a.trust, &v))
        return bw_cli_usage_error(&bw_cmd_verify, "--trust is not a verifier key (name+id+key)");
    int fd = open(a.pack, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return bw_cli_fail(&bw_cmd_verify, "cannot read %s", a.pack);
    }
    if ((uint64_t)st.st_size > BW_PACK_MAX_BYTES || st.st_size < 1024) {
        close(fd);
        return bw_cli_fail(&bw_cmd_verify, "FAILED pack-format: %s has an impossible size", a.pack);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return bw_cli_fail(&bw_cmd_verify, "cannot map %s", a.pack);
    rc = verify_mapped(&a, &v, m, (size_t)st.st_size);
    munmap(m, (size_t)st.st_size);
    return rc;
}

const struct bw_cmd bw_cmd_verify = {
    .name = "verify",
    .summary = "verify an evidence pack offline against a pinned key",
    .usage = usage,
    .run = run,
};
