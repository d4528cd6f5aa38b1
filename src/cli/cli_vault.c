/* bulwark vault: master key rotation (docs/SECURITY.md "Master key rotation").
 *
 *   new-key        writes a fresh master key file (O_EXCL, 0600); never prints it
 *   rotate-master  re-wraps every sealed record (all orgs' secrets, the platform secrets such as
 *                  the API-key pepper) from the current master key to a new one, in batches,
 *                  each preceded by an admin receipt and written with compare-and-swap; then
 *                  switches the key files: master.key -> master.key.prev, master.key.next ->
 *                  master.key. Safe to run again after a crash at any point.
 *   switch         the file switch alone, for the other replicas' data directories, once the
 *                  database holds no record under another key
 *   status         which master key ids the sealed records carry (counts; no secrets)
 *
 * Keys are read from files only into sodium_malloc'd memory (master.h); nothing here prints a
 * key, a secret or a sealed record: only master key ids (crypto_kdf outputs: they identify a
 * key without revealing it), record ids and counts. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cli/cli_admin.h"
#include "store/connections.h"
#include "util/file.h"
#include "util/time.h"
#include "vault/keyring.h"

#define BATCH_DEFAULT 100
#define BATCH_MAX 1000
#define PASSES_MAX 10
#define ID_HEX (2 * BW_VAULT_MASTER_ID_BYTES + 1)

static const char usage[] =
    "usage: bulwark vault new-key --out FILE\n"
    "       bulwark vault rotate-master --data DIR --new-key FILE [--database URL] [--batch N]\n"
    "       bulwark vault switch --data DIR --new-key FILE [--database URL]\n"
    "       bulwark vault status --data DIR [--database URL]\n"
    "\n"
    "new-key writes 32 random bytes to FILE (created, mode 0600; refuses an existing file).\n"
    "rotate-master re-wraps every sealed record under the key in FILE (mode 0600), N records\n"
    "(default 100) per batch, each batch after an admin receipt in DIR's ledger, then renames\n"
    "DIR/master.key to master.key.prev and the new key to master.key. It needs DIR's ledger, so\n"
    "it refuses while `bulwark serve` runs on DIR: run it from a data directory that shares the\n"
    "database and is not serving (a replica made with `init --join`), after copying FILE to\n"
    "every serving replica as DIR/master.key.next and sending it SIGHUP. Run it again after any\n"
    "interruption. switch does the file step alone in another replica's DIR once no record is\n"
    "left under another key. status prints the master key ids records carry.\n"
    "With BULWARK_MASTER_KEY set, the environment is the current key: the files are not\n"
    "switched; replace the variable's value with the new key, restart, then remove\n"
    "DIR/master.key.next.\n";

struct vault_args {
    const char *verb, *dir, *database, *new_key, *out;
    long batch;
};

static int parse(int argc, char **argv, struct vault_args *v) {
    const struct bw_cmd *cmd = &bw_cmd_vault;
    memset(v, 0, sizeof *v);
    v->batch = BATCH_DEFAULT;
    if (argc < 2)
        return bw_cli_usage_error(cmd,
                                  "a verb is required (new-key, rotate-master, switch, status)");
    v->verb = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char *batch = NULL;
        const char **slot = strcmp(o, "--data") == 0       ? &v->dir
                            : strcmp(o, "--database") == 0 ? &v->database
                            : strcmp(o, "--new-key") == 0  ? &v->new_key
                            : strcmp(o, "--out") == 0      ? &v->out
                            : strcmp(o, "--batch") == 0    ? &batch
                                                           : NULL;
        if (!slot)
            return bw_cli_usage_error(cmd, "unknown option %.64s", o);
        if (i + 1 >= argc || *slot)
            return bw_cli_usage_error(cmd, "%s needs one value", o);
        *slot = argv[++i];
        if (batch) {
            char *end = NULL;
            v->batch = strtol(batch, &end, 10);
            if (*end || v->batch < 1 || v->batch > BATCH_MAX)
                return bw_cli_usage_error(cmd, "--batch must be 1..%d", BATCH_MAX);
        }
    }
    return 0;
}

static void id_hex(const uint8_t id[BW_VAULT_MASTER_ID_BYTES], char out[ID_HEX]) {
    sodium_bin2hex(out, ID_HEX, id, BW_VAULT_MASTER_ID_BYTES);
}

static int same_id(const uint8_t *a, const uint8_t *b) {
    return memcmp(a, b, BW_VAULT_MASTER_ID_BYTES) == 0;
}

/* ---- key files ---- */

struct key_paths {
    char key[4096], next[4096], prev[4096], dir[4096];
};

static int key_paths(const char *dir, struct key_paths *p) {
    int bad = snprintf(p->key, sizeof p->key, "%s/" BW_KEYRING_FILE, dir) >= (int)sizeof p->key;
    bad |=
        snprintf(p->next, sizeof p->next, "%s/" BW_KEYRING_NEXT_FILE, dir) >= (int)sizeof p->next;
    bad |=
        snprintf(p->prev, sizeof p->prev, "%s/" BW_KEYRING_PREV_FILE, dir) >= (int)sizeof p->prev;
    bad |= snprintf(p->dir, sizeof p->dir, "%s", dir) >= (int)sizeof p->dir;
    return bad ? -1 : 0;
}

static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The id of the key in a file (file only, never the environment). */
static bw_err file_id(const char *path, uint8_t id[BW_VAULT_MASTER_ID_BYTES]) {
    struct bw_master *m = NULL;
    BW_TRY(bw_master_load_file(path, &m));
    bw_err e = bw_vault_master_id(m, id);
    bw_master_free(m);
    return e;
}

/* A crash between the two renames of a switch leaves master.key.prev and master.key.next but
 * no master.key: finish it (only when the next key is the one being rotated to). */
static bw_err finish_switch(const struct key_paths *p, const uint8_t new_id[]) {
    if (exists(p->key) || !exists(p->next) || !exists(p->prev))
        return BW_OK;
    uint8_t id[BW_VAULT_MASTER_ID_BYTES];
    BW_TRY(file_id(p->next, id));
    BW_ENSURE(same_id(id, new_id), BW_E_INVALID);
    BW_ENSURE(rename(p->next, p->key) == 0, BW_E_IO);
    return bw_file_fsync_dir(p->dir);
}

/* master.key -> master.key.prev, master.key.next -> master.key, each durable. */
static bw_err switch_files(const struct key_paths *p) {
    BW_ENSURE(rename(p->key, p->prev) == 0, BW_E_IO);
    BW_TRY(bw_file_fsync_dir(p->dir));
    BW_ENSURE(rename(p->next, p->key) == 0, BW_E_IO);
    return bw_file_fsync_dir(p->dir);
}

/* ---- walking the records ---- */

struct org_ids {
    char (*v)[BW_ID_SIZE];
    size_t n, cap;
};

static int collect_org(void *arg, const char *id, const char *name) {
    (void)name;
    struct org_ids *o = arg;
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        void *v = realloc(o->v, cap * sizeof *o->v);
        if (!v)
            return 1;
        o->v = v;
        o->cap = cap;
    }
    snprintf(o->v[o->n++], BW_ID_SIZE, "%s", id);
    return 0;
}

struct rotation {
    const struct bw_cmd *cmd;
    struct bw_cli_admin *admin;   /* NULL: count only (status, switch) */
    const struct bw_keyring *old; /* the keys records may be wrapped by now */
    const struct bw_master *newm; /* NULL: count only */
    uint8_t new_id[BW_VAULT_MASTER_ID_BYTES];
    size_t batch;
    struct bw_secret_blob *rows; /* batch read buffers (ciphertext only) */
    uint8_t *out;                /* batch * BW_VAULT_SEALED_MAX re-wrapped records */
    long crash_after;            /* test hook: batches before _exit (0 = never) */
    int64_t seen, rewrapped, batches, platform;
    /* status: counts by master id */
    struct {
        uint8_t id[BW_VAULT_MASTER_ID_BYTES];
        int64_t n;
    } ids[16];
    size_t n_ids;
};

static void count_id(struct rotation *r, const uint8_t id[]) {
    for (size_t i = 0; i < r->n_ids; i++)
        if (same_id(r->ids[i].id, id)) {
            r->ids[i].n++;
            return;
        }
    if (r->n_ids < sizeof r->ids / sizeof r->ids[0]) {
        memcpy(r->ids[r->n_ids].id, id, BW_VAULT_MASTER_ID_BYTES);
        r->ids[r->n_ids++].n = 1;
    }
}

/* Re-wraps one record into out. Prints why it cannot (ids only) and returns 1. */
static int rewrap_one(struct rotation *r, const char *org, const struct bw_secret_blob *b,
                      uint8_t *out, size_t *out_len) {
    char hex[ID_HEX];
    const struct bw_master *m = bw_keyring_find(r->old, b->master_id);
    if (!m) {
        id_hex(b->master_id, hex);
        return bw_cli_fail(r->cmd,
                           "record %s of %s is wrapped by master key %s, which is neither the "
                           "current nor the previous key: nothing more was changed",
                           b->id, org[0] ? org : "the platform", hex);
    }
    bw_err e = bw_vault_rewrap(m, r->newm, org[0] ? org : BW_PLATFORM_ORG, b->id, b->sealed, b->len,
                               out, BW_VAULT_SEALED_MAX, out_len);
    if (e != BW_OK)
        return bw_cli_fail(r->cmd, "record %s of %s does not open (%s)%s: nothing more was changed",
                           b->id, org[0] ? org : "the platform", bw_err_str(e),
                           e == BW_E_CRYPTO ? ": altered or corrupt; look at it before retrying"
                                            : "");
    return 0;
}

static int batch_receipt(struct rotation *r, const char *org, size_t n) {
    char target[65], hex[ID_HEX];
    id_hex(r->new_id, hex);
    snprintf(target, sizeof target, "to %s: %zu records", hex, n);
    return bw_cli_admin_record(r->admin, org, "vault.rotate_master", target);
}

static void after_batch(struct rotation *r) {
    r->batches++;
    if (r->crash_after > 0 && r->batches >= r->crash_after) {
        (void)fflush(stdout); /* the test hook exits at once: best effort */
        _exit(75);            /* the test hook: a crash between batches (docs/SECURITY.md) */
    }
}

/* One org: every record not yet wrapped by the new key, batch by batch (keyset pages). */
static int org_pass(struct rotation *r, const char *org) {
    char after[BW_ID_SIZE] = "";
    for (;;) {
        size_t n = 0;
        bw_err e = bw_store_secrets_not_wrapped_by(r->admin ? r->admin->store : NULL, org,
                                                   r->new_id, after, r->batch, r->rows, &n);
        if (e != BW_OK)
            return bw_cli_fail(r->cmd, "cannot read the secrets of %s: %s", org, bw_err_str(e));
        if (n == 0)
            return 0;
        r->seen += (int64_t)n;
        snprintf(after, sizeof after, "%s", r->rows[n - 1].id);
        if (!r->newm) {
            for (size_t i = 0; i < n; i++)
                count_id(r, r->rows[i].master_id);
            continue;
        }
        int rc = batch_receipt(r, org, n);
        if (rc)
            return rc;
        struct bw_secret_swap sw[BATCH_MAX];
        for (size_t i = 0; i < n; i++) {
            size_t len = 0;
            uint8_t *out = r->out + i * BW_VAULT_SEALED_MAX;
            if ((rc = rewrap_one(r, org, &r->rows[i], out, &len)) != 0)
                return rc;
            sw[i] = (struct bw_secret_swap){r->rows[i].id, r->rows[i].sealed, r->rows[i].len, out,
                                            len,           r->new_id};
        }
        size_t swapped = 0;
        e = bw_store_secrets_swap(r->admin->store, org, sw, n, &swapped);
        if (e != BW_OK)
            return bw_cli_fail(r->cmd, "cannot write the re-wrapped secrets of %s: %s", org,
                               bw_err_str(e));
        r->rewrapped += (int64_t)swapped;
        after_batch(r);
    }
}

struct platform_each {
    struct rotation *r;
    int rc;
};

static int platform_one(void *arg, const char *id, const uint8_t master_id[]) {
    struct platform_each *pe = arg;
    struct rotation *r = pe->r;
    if (same_id(master_id, r->new_id))
        return 0;
    r->seen++;
    if (!r->newm) {
        count_id(r, master_id);
        return 0;
    }
    struct bw_secret_blob *b = &r->rows[0];
    bw_err e = bw_store_platform_secret_get(r->admin->store, id, b);
    if (e != BW_OK) {
        pe->rc = bw_cli_fail(r->cmd, "cannot read platform secret %s: %s", id, bw_err_str(e));
        return 1;
    }
    size_t len = 0;
    if ((pe->rc = batch_receipt(r, "", 1)) != 0 || (pe->rc = rewrap_one(r, "", b, r->out, &len)))
        return 1;
    struct bw_secret_swap sw = {b->id, b->sealed, b->len, r->out, len, r->new_id};
    int swapped = 0;
    e = bw_store_platform_secret_swap(r->admin->store, &sw, bw_now_ms(), &swapped);
    if (e != BW_OK) {
        pe->rc = bw_cli_fail(r->cmd, "cannot write platform secret %s: %s", id, bw_err_str(e));
        return 1;
    }
    r->rewrapped += swapped;
    r->platform += swapped;
    after_batch(r);
    return 0;
}

/* One pass over every org and the platform secrets. r->seen counts records found not wrapped
 * by the new key (whether or not this pass's compare-and-swap won). */
static int one_pass(struct rotation *r, struct bw_store *s) {
    struct org_ids orgs = {NULL, 0, 0};
    bw_err e = bw_store_orgs_each(s, collect_org, &orgs);
    int rc = e == BW_OK ? 0 : bw_cli_fail(r->cmd, "cannot list the orgs: %s", bw_err_str(e));
    for (size_t i = 0; !rc && i < orgs.n; i++)
        rc = org_pass(r, orgs.v[i]);
    free(orgs.v);
    if (rc)
        return rc;
    struct platform_each pe = {r, 0};
    e = bw_store_platform_secrets_each(s, platform_one, &pe);
    if (pe.rc)
        return pe.rc;
    return e == BW_OK ? 0
                      : bw_cli_fail(r->cmd, "cannot list the platform secrets: %s", bw_err_str(e));
}

static int rotation_buffers(struct rotation *r, size_t batch) {
    r->batch = batch;
    r->rows = calloc(batch, sizeof *r->rows);
    r->out = calloc(batch, BW_VAULT_SEALED_MAX);
    return r->rows && r->out ? 0 : bw_cli_fail(r->cmd, "out of memory");
}

static void rotation_cleanup(struct rotation *r) {
    free(r->rows);
    free(r->out);
}

/* Passes until one finds nothing left under another key. A record changed meanwhile (its
 * compare-and-swap lost) is found again by the next pass; a replica that keeps sealing under
 * the old key (no master.key.next) makes this give up rather than loop. */
static int rewrap_all(struct rotation *r) {
    for (int pass = 0; pass < PASSES_MAX; pass++) {
        r->seen = 0;
        int rc = one_pass(r, r->admin->store);
        if (rc)
            return rc;
        if (r->seen == 0)
            return 0;
    }
    return bw_cli_fail(r->cmd,
                       "records keep appearing under the old key after %d passes: does "
                       "every serving replica hold master.key.next (SIGHUP)?",
                       PASSES_MAX);
}

/* ---- verbs ---- */

static int new_key(const struct vault_args *v) {
    const struct bw_cmd *cmd = &bw_cmd_vault;
    if (!v->out)
        return bw_cli_usage_error(cmd, "new-key needs --out FILE");
    if (sodium_init() < 0)
        return bw_cli_fail(cmd, "libsodium failed to initialise");
    bw_err e = bw_master_create(v->out);
    if (e != BW_OK)
        return bw_cli_fail(cmd, "cannot create %s: %s", v->out,
                           e == BW_E_EXISTS ? "it exists (never overwritten)" : bw_err_str(e));
    uint8_t id[BW_VAULT_MASTER_ID_BYTES];
    char hex[ID_HEX];
    if (file_id(v->out, id) != BW_OK)
        return bw_cli_fail(cmd, "cannot read back %s", v->out);
    id_hex(id, hex);
    printf("{\"file\":\"%s\",\"master_id\":\"%s\"}\n", v->out, hex);
    return 0;
}

/* The new key (FILE) and its id. */
static int load_new(const struct vault_args *v, struct bw_master **m, uint8_t id[]) {
    if (!v->new_key)
        return bw_cli_usage_error(&bw_cmd_vault, "--new-key FILE is required");
    bw_err e = bw_master_load_file(v->new_key, m);
    if (e == BW_OK && (e = bw_vault_master_id(*m, id)) != BW_OK)
        bw_master_free(*m);
    return e == BW_OK
               ? 0
               : bw_cli_fail(&bw_cmd_vault, "cannot load --new-key %s: %s%s", v->new_key,
                             bw_err_str(e), e == BW_E_DENIED ? " (it must be mode 0600)" : "");
}

static void print_summary(const struct rotation *r, const uint8_t old_id[], int switched,
                          int already) {
    char o[ID_HEX], n[ID_HEX];
    id_hex(old_id, o);
    id_hex(r->new_id, n);
    printf("{\"old_master_id\":\"%s\",\"new_master_id\":\"%s\",\"rewrapped\":%lld,"
           "\"platform_rewrapped\":%lld,\"batches\":%lld,\"switched\":%s,\"already\":%s}\n",
           o, n, (long long)r->rewrapped, (long long)r->platform, (long long)r->batches,
           switched ? "true" : "false", already ? "true" : "false");
}

static int rotate(const struct vault_args *v, struct bw_cli_admin *a, const struct key_paths *p,
                  struct bw_master *newm, struct rotation *r) {
    const struct bw_cmd *cmd = &bw_cmd_vault;
    const char *env_key = getenv(BW_MASTER_ENV);
    int env = env_key && *env_key;
    bw_err e = env ? BW_OK : finish_switch(p, r->new_id);
    if (e != BW_OK)
        return bw_cli_fail(cmd, "%s is missing and the switch cannot be finished: %s", p->key,
                           bw_err_str(e));
    struct bw_master *cur = NULL;
    if ((e = bw_master_load(p->key, &cur)) != BW_OK)
        return bw_cli_fail(cmd, "cannot load the current master key: %s", bw_err_str(e));
    uint8_t cur_id[BW_VAULT_MASTER_ID_BYTES];
    if (bw_vault_master_id(cur, cur_id) != BW_OK) {
        bw_master_free(cur);
        return bw_cli_fail(cmd, "cannot derive the master key id");
    }
    int already = same_id(cur_id, r->new_id);
    struct bw_master *prev = NULL, *next = NULL;
    if (exists(p->prev) && (e = bw_master_load_file(p->prev, &prev)) != BW_OK) {
        bw_master_free(cur);
        return bw_cli_fail(cmd, "cannot load %s: %s", p->prev, bw_err_str(e));
    }
    if (!already && prev) {
        bw_master_free(cur);
        bw_master_free(prev);
        return bw_cli_fail(cmd,
                           "%s is left from an earlier rotation: delete it (once no backup "
                           "needs it) before rotating again",
                           p->prev);
    }
    if (!already) {
        uint8_t id[BW_VAULT_MASTER_ID_BYTES];
        if (exists(p->next)) {
            e = file_id(p->next, id);
            if (e == BW_OK && !same_id(id, r->new_id))
                e = BW_E_EXISTS;
        } else {
            e = bw_master_install(v->new_key, p->next);
        }
        if (e == BW_OK)
            e = bw_master_load_file(p->next, &next);
        if (e != BW_OK) {
            bw_master_free(cur);
            return bw_cli_fail(cmd, "%s: %s", p->next,
                               e == BW_E_EXISTS ? "holds another key: another rotation is under "
                                                  "way (finish it, or delete the file)"
                                                : bw_err_str(e));
        }
    }
    /* The keys records may carry: current and (after a switch) previous; the new one is
     * r->newm. bw_keyring_from takes the three keys. */
    struct bw_keyring *ring = NULL;
    if ((e = bw_keyring_from(cur, next, prev, &ring)) != BW_OK)
        return bw_cli_fail(cmd, "cannot hold the master keys: %s", bw_err_str(e));
    r->old = ring;
    r->newm = newm;
    /* The pepper must exist as a sealed record before the key it was derived from retires
     * (an installation older than migration 7 that never started since). */
    uint8_t *pepper = sodium_malloc(32);
    e = pepper ? bw_auth_pepper_load(a->store, ring, pepper) : BW_E_NOMEM;
    sodium_free(pepper);
    int rc =
        e == BW_OK ? 0 : bw_cli_fail(cmd, "cannot open the key-hash pepper: %s", bw_err_str(e));
    if (!rc)
        rc = rewrap_all(r);
    int switched = 0;
    if (!rc && !already && !env) {
        char o[ID_HEX], n[ID_HEX], target[65];
        id_hex(cur_id, o);
        id_hex(r->new_id, n);
        snprintf(target, sizeof target, "%s to %s", o, n);
        rc = bw_cli_admin_record(a, "", "vault.switch_master", target);
        if (!rc && (e = switch_files(p)) != BW_OK)
            rc = bw_cli_fail(cmd, "cannot switch the key files in %s: %s (run again)", p->dir,
                             bw_err_str(e));
        switched = !rc;
    }
    if (!rc && env && !already)
        fprintf(stderr,
                "bulwark vault: every record is now wrapped by the new key. "
                "BULWARK_MASTER_KEY still holds the old one: set it to the new key, "
                "restart, then delete %s\n",
                p->next);
    if (!rc)
        print_summary(r, cur_id, switched || already, already);
    bw_keyring_free(ring);
    return rc;
}

/* status and switch: a count of the records by master key id, without writing. */
static int count_records(struct rotation *r, struct bw_store *s) {
    r->newm = NULL;
    return one_pass(r, s);
}

static int status(struct bw_cli_admin *a, struct rotation *r, const char *dir) {
    struct bw_keyring *ring = NULL;
    bw_err e = bw_keyring_load(dir, &ring);
    if (e != BW_OK)
        return bw_cli_fail(&bw_cmd_vault, "cannot load the master keys: %s", bw_err_str(e));
    memset(r->new_id, 0, sizeof r->new_id); /* no record carries the all-zero id: count all */
    int rc = count_records(r, a->store);
    if (!rc) {
        char cur[ID_HEX], seal[ID_HEX];
        uint8_t id[BW_VAULT_MASTER_ID_BYTES];
        bw_keyring_current_id(ring, id);
        id_hex(id, cur);
        bw_keyring_sealer_id(ring, id);
        id_hex(id, seal);
        printf("{\"current\":\"%s\",\"sealing\":\"%s\",\"records\":{", cur, seal);
        for (size_t i = 0; i < r->n_ids; i++) {
            char hex[ID_HEX];
            id_hex(r->ids[i].id, hex);
            printf("%s\"%s\":%lld", i ? "," : "", hex, (long long)r->ids[i].n);
        }
        printf("}}\n");
    }
    bw_keyring_free(ring);
    return rc;
}

static int switch_only(struct bw_cli_admin *a, struct rotation *r, const struct key_paths *p) {
    const struct bw_cmd *cmd = &bw_cmd_vault;
    const char *env_key = getenv(BW_MASTER_ENV);
    if (env_key && *env_key)
        return bw_cli_fail(cmd, "BULWARK_MASTER_KEY is set: switch its value instead");
    bw_err e = finish_switch(p, r->new_id);
    uint8_t id[BW_VAULT_MASTER_ID_BYTES];
    if (e == BW_OK)
        e = file_id(p->key, id);
    if (e != BW_OK)
        return bw_cli_fail(cmd, "cannot read %s: %s", p->key, bw_err_str(e));
    if (same_id(id, r->new_id)) {
        printf("{\"switched\":true,\"already\":true}\n");
        return 0;
    }
    if (file_id(p->next, id) != BW_OK || !same_id(id, r->new_id))
        return bw_cli_fail(cmd, "%s does not hold the new key: copy it there first", p->next);
    if (exists(p->prev))
        return bw_cli_fail(cmd, "%s is left from an earlier rotation: delete it first", p->prev);
    int rc = count_records(r, a->store);
    if (rc)
        return rc;
    if (r->seen)
        return bw_cli_fail(cmd,
                           "%lld records are still wrapped by another key: run "
                           "rotate-master to the end first",
                           (long long)r->seen);
    if ((e = switch_files(p)) != BW_OK)
        return bw_cli_fail(cmd, "cannot switch the key files: %s (run again)", bw_err_str(e));
    printf("{\"switched\":true,\"already\":false}\n");
    return 0;
}

static int run(int argc, char **argv) {
    const struct bw_cmd *cmd = &bw_cmd_vault;
    if (bw_cli_wants_help(cmd, argc, argv))
        return 0;
    struct vault_args v;
    int rc = parse(argc, argv, &v);
    if (rc)
        return rc;
    if (strcmp(v.verb, "new-key") == 0)
        return new_key(&v);
    int is_rotate = strcmp(v.verb, "rotate-master") == 0;
    int is_switch = strcmp(v.verb, "switch") == 0;
    if (!is_rotate && !is_switch && strcmp(v.verb, "status") != 0)
        return bw_cli_usage_error(cmd, "unknown verb %.64s", v.verb);
    if (!v.dir)
        return bw_cli_usage_error(cmd, "--data DIR is required");
    struct key_paths p;
    if (key_paths(v.dir, &p) != 0)
        return bw_cli_usage_error(cmd, "path too long");
    if (sodium_init() < 0)
        return bw_cli_fail(cmd, "libsodium failed to initialise");
    struct rotation r;
    memset(&r, 0, sizeof r);
    r.cmd = cmd;
    const char *crash = getenv("BULWARK_TEST_ROTATE_CRASH_AFTER");
    r.crash_after = crash ? strtol(crash, NULL, 10) : 0;
    struct bw_master *newm = NULL;
    if ((is_rotate || is_switch) && (rc = load_new(&v, &newm, r.new_id)) != 0)
        return rc;
    struct bw_cli_admin a;
    rc = bw_cli_admin_open_ex(cmd, v.dir, v.database, is_rotate, 0, &a);
    r.admin = &a;
    if (!rc)
        rc = rotation_buffers(&r, (size_t)v.batch);
    if (!rc)
        rc = is_rotate   ? rotate(&v, &a, &p, newm, &r)
             : is_switch ? switch_only(&a, &r, &p)
                         : status(&a, &r, v.dir);
    rotation_cleanup(&r);
    bw_cli_admin_close(&a);
    bw_master_free(newm);
    return rc;
}

const struct bw_cmd bw_cmd_vault = {"vault", "master key rotation: new-key, rotate-master, switch",
                                    usage, run};
