/* readiness_controls.c: the controls about files and the process: master_key, signing_key,
 * ledger, policy, config_secrets, transport (readiness_internal.h; docs/API.md "Security
 * readiness" says what each checks and when it warns or fails). Values carry modes, counts,
 * ids and times only: never a path, a key byte or a config value. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "config/config.h"
#include "gateway/gateway.h"
#include "http/tls.h"
#include "ledger/ledger.h"
#include "policy/engine.h"
#include "posture/readiness_internal.h"
#include "util/codec.h"
#include "vault/keyring.h"
#include "vault/master.h"

#define KEY_BYTES 32
#define LEDGER_HEADROOM_FAIL (1LL << 20)  /* 1 MiB: a few batches at most */
#define LEDGER_HEADROOM_WARN (64LL << 20) /* 64 MiB */
#define LEDGER_STUCK_MS 10000             /* receipts queued, no checkpoint for this long */
#define CONFIG_SCAN_MAX (1 << 20)         /* the config loader's own bound is smaller */

void bw_ready_stat(const char *path, struct bw_ready_file *f) {
    memset(f, 0, sizeof *f);
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    f->exists = 1;
    f->regular = S_ISREG(st.st_mode);
    f->mode = (unsigned)(st.st_mode & 07777);
    f->size = (long long)st.st_size;
}

int bw_ready_private(const struct bw_ready_file *f) {
    return f->exists && f->regular && (f->mode & 077) == 0;
}

static void put_mode(json_t *v, const char *name, const struct bw_ready_file *f) {
    char m[8];
    snprintf(m, sizeof m, "%04o", f->mode);
    json_object_set_new(v, name, f->exists ? json_string(m) : json_null());
}

/* Reads exactly KEY_BYTES from path into out (sodium_malloc'd by the caller). 0 on success. */
static int read_key_file(const char *path, uint8_t *out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    uint8_t extra;
    ssize_t n = read(fd, out, KEY_BYTES);
    ssize_t more = n == KEY_BYTES ? read(fd, &extra, 1) : 0;
    close(fd);
    return n == KEY_BYTES && more == 0 ? 0 : -1;
}

/* The current master key's bytes: the environment's (base64) if set, else the file's. */
static int read_master(const char *dir, uint8_t *out, int *from_env) {
    const char *b64 = getenv(BW_MASTER_ENV);
    *from_env = b64 && *b64;
    if (*from_env) {
        size_t len = 0;
        return sodium_base642bin(out, KEY_BYTES, b64, strlen(b64), NULL, &len, NULL,
                                 sodium_base64_VARIANT_ORIGINAL) == 0 &&
                       len == KEY_BYTES
                   ? 0
                   : -1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/" BW_KEYRING_FILE, dir);
    return read_key_file(path, out);
}

/* 1 if the master key and the ledger's signing seed are the same bytes (constant-time compare
 * in locked memory, wiped before release); -1 if either cannot be read. */
static int master_is_signing_key(const struct bw_ready_ctx *c, int *from_env) {
    uint8_t *keys = sodium_malloc(2 * KEY_BYTES);
    if (!keys)
        return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/signing.key", bw_ledger_dir(c->env->gw->ledger));
    int rc = -1;
    if (read_master(c->env->data_dir, keys, from_env) == 0 &&
        read_key_file(path, keys + KEY_BYTES) == 0)
        rc = sodium_memcmp(keys, keys + KEY_BYTES, KEY_BYTES) == 0;
    sodium_memzero(keys, 2 * KEY_BYTES);
    sodium_free(keys);
    return rc;
}

/* The rotation's other key files (keyring.h), when present, are keys too: they must be
 * private. Returns how many are present but not. */
static int rotation_files_open(const char *dir, json_t *v) {
    static const char *const names[] = {BW_KEYRING_NEXT_FILE, BW_KEYRING_PREV_FILE};
    static const char *const fields[] = {"next_file_mode", "prev_file_mode"};
    int bad = 0;
    for (size_t i = 0; i < 2; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct bw_ready_file f;
        bw_ready_stat(path, &f);
        if (!f.exists)
            continue;
        put_mode(v, fields[i], &f);
        bad += !bw_ready_private(&f);
    }
    return bad;
}

void bw_ready_master_key(const struct bw_ready_ctx *c, struct bw_ready_result *r) {
    char path[4200];
    snprintf(path, sizeof path, "%s/" BW_KEYRING_FILE, c->env->data_dir);
    struct bw_ready_file f;
    bw_ready_stat(path, &f);
    int rotation_bad = rotation_files_open(c->env->data_dir, bw_ready_values(r));
    int from_env = 0;
    int same = master_is_signing_key(c, &from_env);
    json_t *v = bw_ready_values(r);
    json_object_set_new(v, "source", json_string(from_env ? "env" : "file"));
    if (!from_env)
        put_mode(v, "file_mode", &f);
    json_object_set_new(v, "shared_with_signing_key", same < 0 ? json_null() : json_boolean(same));
    if (!from_env && !f.exists)
        bw_ready_set(r, BW_READY_FAIL, "the master key file is missing");
    else if (!from_env && !bw_ready_private(&f))
        bw_ready_set(r, BW_READY_FAIL,
                     "the master key file is not a regular file of mode 0600 "
                     "(group or other may read it)");
    else if (same < 0)
        bw_ready_set(r, BW_READY_FAIL, "the master key or the signing key cannot be read");
    else if (same)
        bw_ready_set(r, BW_READY_FAIL, "the master key is the same key as the ledger signing key");
    else if (from_env && f.exists && !bw_ready_private(&f))
        bw_ready_set(r, BW_READY_FAIL,
                     "the master key comes from the environment, but a "
                     "master key file readable by group or other is present");
    else if (rotation_bad)
        bw_ready_set(r, BW_READY_FAIL,
                     "a rotation key file (next or previous master key) is "
                     "readable by group or other");
    else
        bw_ready_set(r, BW_READY_PASS, "present (%s), private, distinct from the signing key",
                     from_env ? "environment" : "file mode 0600");
}

void bw_ready_signing_key(const struct bw_ready_ctx *c, struct bw_ready_result *r) {
    char path[4200];
    snprintf(path, sizeof path, "%s/signing.key", bw_ledger_dir(c->env->gw->ledger));
    struct bw_ready_file f;
    bw_ready_stat(path, &f);
    json_t *v = bw_ready_values(r);
    put_mode(v, "file_mode", &f);
    if (!f.exists)
        bw_ready_set(r, BW_READY_FAIL, "the ledger signing key file is missing");
    else if (!bw_ready_private(&f))
        bw_ready_set(r, BW_READY_FAIL,
                     "the signing key file is not a regular file of mode 0600 "
                     "(group or other may read it)");
    else if (f.size != KEY_BYTES)
        bw_ready_set(r, BW_READY_FAIL, "the signing key file does not hold a 32-byte seed");
    else
        bw_ready_set(r, BW_READY_PASS, "present, mode %04o", f.mode);
}

/* Bytes the log may still grow by: the smaller of the free space of its filesystem and the
 * process's file-size limit (RLIMIT_FSIZE) above the log's current size. -1 if unknown. */
static long long ledger_headroom(const char *ledger_dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/log", ledger_dir);
    struct stat st;
    struct statvfs vfs;
    if (stat(path, &st) != 0 || statvfs(ledger_dir, &vfs) != 0)
        return -1;
    unsigned long long free_b = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
    long long room = free_b > (unsigned long long)LLONG_MAX ? LLONG_MAX : (long long)free_b;
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) != 0)
        return -1;
    if (rl.rlim_cur != RLIM_INFINITY) {
        long long lim = (long long)rl.rlim_cur - (long long)st.st_size;
        room = lim < room ? lim : room;
    }
    return room < 0 ? 0 : room;
}

void bw_ready_ledger(const struct bw_ready_ctx *c, struct bw_ready_result *r) {
    struct bw_ledger *l = c->env->gw->ledger;
    struct bw_ledger_health h;
    bw_ledger_health(l, &h);
    long long room = ledger_headroom(bw_ledger_dir(l));
    int64_t age = c->now_ms - h.checkpoint_ms;
    json_t *v = bw_ready_values(r);
    json_object_set_new(v, "frozen", json_boolean(h.frozen));
    json_object_set_new(v, "size", json_integer((json_int_t)h.size));
    json_object_set_new(v, "pending", json_integer((json_int_t)h.pending));
    json_object_set_new(v, "checkpoint_age_ms", json_integer(age));
    json_object_set_new(v, "max_checkpoint_age_ms", json_integer(LEDGER_STUCK_MS));
    json_object_set_new(v, "headroom_bytes", room < 0 ? json_null() : json_integer(room));
    json_object_set_new(v, "last_write_failure_ms",
                        h.write_failed_ms ? json_integer(h.write_failed_ms) : json_null());
    int failed_last = h.write_failed_ms && h.write_failed_ms >= h.checkpoint_ms;
    if (h.frozen)
        bw_ready_set(r, BW_READY_FAIL, "the ledger is frozen: it refuses to sign");
    else if (room < 0)
        bw_ready_set(r, BW_READY_FAIL, "the ledger's free space cannot be read");
    else if (room < LEDGER_HEADROOM_FAIL)
        bw_ready_set(r, BW_READY_FAIL, "the ledger cannot grow: %lld bytes left", room);
    else if (failed_last)
        bw_ready_set(r, BW_READY_FAIL, "the ledger's last write failed");
    else if (h.pending > 0 && age > LEDGER_STUCK_MS)
        bw_ready_set(r, BW_READY_FAIL, "%zu receipts wait and no checkpoint for %lld ms", h.pending,
                     (long long)age);
    else if (room < LEDGER_HEADROOM_WARN)
        bw_ready_set(r, BW_READY_WARN, "the ledger has less than 64 MiB to grow");
    else
        bw_ready_set(r, BW_READY_PASS, "writable; last checkpoint %lld ms ago", (long long)age);
}

void bw_ready_policy(const struct bw_ready_ctx *c, struct bw_ready_result *r) {
    json_t *v = bw_ready_values(r);
    struct bw_policy *p = bw_gateway_policy_acquire(c->env->gw);
    if (!p) {
        json_object_set_new(v, "loaded", json_false());
        /* orgs.*.allowed_models decide: an exact list per org, deny otherwise */
        bw_ready_set(r, BW_READY_WARN, "no policy file: only the config's allowed_models decide");
        return;
    }
    char hex[65], first[BW_POLICY_ID_SIZE];
    if (bw_hex_encode(bw_policy_sha256(p), 32, hex, sizeof hex) != BW_OK)
        hex[0] = 0;
    size_t allow_all = bw_policy_allow_all_rules(p, first);
    json_object_set_new(v, "loaded", json_true());
    json_object_set_new(v, "sha256", json_string(hex));
    json_object_set_new(v, "rules", json_integer((json_int_t)bw_policy_rule_count(p)));
    json_object_set_new(v, "allow_all_rules", json_integer((json_int_t)allow_all));
    json_object_set_new(v, "first_allow_all_rule", allow_all ? json_string(first) : json_null());
    if (allow_all)
        bw_ready_set(r, BW_READY_FAIL, "%zu rule(s) allow every request: not default deny",
                     allow_all);
    else
        bw_ready_set(r, BW_READY_PASS, "loaded, default deny");
    bw_policy_unref(p);
}

/* ---- config_secrets ---- */

/* Shapes of secret values that must never sit in a config file (a leaked config, a backup or
 * a support bundle would carry them): provider keys, our own keys, webhook secrets, tokens,
 * private keys. A prefix matches when followed by at least min more token characters. */
static const struct {
    const char *prefix;
    size_t min;
} secret_shapes[] = {
    {"sk-", 16},  {"sk_live_", 8}, {"sk_test_", 8},   {"rk_live_", 8},     {"whsec_", 8},
    {"bwk_", 16}, {"ghp_", 16},    {"gho_", 16},      {"github_pat_", 16}, {"xoxb-", 8},
    {"xoxp-", 8}, {"AKIA", 16},    {"-----BEGIN", 0}, {"secret_", 16},     {"ntn_", 16},
};

static int token_char(unsigned char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

/* Counts secret-shaped values in text (the whole file, comments included). */
size_t bw_ready_secret_shapes(const char *t, size_t n) {
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && token_char((unsigned char)t[i - 1]))
            continue; /* only at the start of a token */
        for (size_t k = 0; k < sizeof secret_shapes / sizeof secret_shapes[0]; k++) {
            size_t pl = strlen(secret_shapes[k].prefix);
            if (n - i < pl || memcmp(t + i, secret_shapes[k].prefix, pl) != 0)
                continue;
            size_t j = i + pl;
            while (j < n && token_char((unsigned char)t[j]))
                j++;
            if (j - i - pl >= secret_shapes[k].min) {
                found++;
                i = j;
                break;
            }
        }
    }
    return found;
}

/* 1 if a postgres URL carries a password (user:password@ or password=). */
int bw_ready_url_has_password(const char *url) {
    if (strstr(url, "password="))
        return 1;
    const char *p = strstr(url, "://");
    if (!p)
        return 0;
    p += 3;
    const char *at = strchr(p, '@');
    const char *slash = strchr(p, '/');
    if (!at || (slash && slash < at))
        return 0;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    return colon != NULL;
}

/* Reads the config file (bounded) and counts secret shapes: -1 if unreadable. */
static long scan_config(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    char *buf = malloc(CONFIG_SCAN_MAX);
    size_t n = buf ? fread(buf, 1, CONFIG_SCAN_MAX, fp) : 0;
    int err = !buf || ferror(fp);
    (void)fclose(fp); /* read only: a close error loses nothing */
    long found = err ? -1 : (long)bw_ready_secret_shapes(buf, n);
    if (buf)
        sodium_memzero(buf, CONFIG_SCAN_MAX); /* it may hold the very secret it found */
    free(buf);
    return found;
}

/* A named secret file: regular, no group/other bits. Returns 1 if bad (and counts it). */
static int secret_file_bad(json_t *files, const char *name, const char *path) {
    if (!path[0])
        return 0;
    struct bw_ready_file f;
    bw_ready_stat(path, &f);
    char m[8];
    snprintf(m, sizeof m, "%04o", f.mode);
    json_object_set_new(files, name, f.exists ? json_string(m) : json_string("missing"));
    return !bw_ready_private(&f);
}

void bw_ready_config_secrets(const struct bw_ready_ctx *c, struct bw_ready_result *r) {
    const struct bw_config *cfg = c->env->cfg;
    long inline_found = scan_config(c->env->config_path);
    int db_password = bw_ready_url_has_password(cfg->database);
    int up_password = bw_ready_url_has_password(cfg->upstream_url);
    json_t *v = bw_ready_values(r);
    json_t *files = json_object();
    int bad_files =
        secret_file_bad(files, "upstream.api_key_file", cfg->upstream_key_file) +
        secret_file_bad(files, "billing.stripe_secret_file", cfg->billing_stripe_secret_file) +
        secret_file_bad(files, "billing.standard_secret_file", cfg->billing_standard_secret_file);
    json_object_set_new(v, "inline_secret_values",
                        inline_found < 0 ? json_null() : json_integer(inline_found));
    json_object_set_new(v, "database_url_has_password", json_boolean(db_password));
    json_object_set_new(v, "upstream_url_has_credentials", json_boolean(up_password));
    json_object_set_new(v, "secret_file_modes", files);
    if (inline_found < 0)
        bw_ready_set(r, BW_READY_FAIL, "the config file cannot be read for the check");
    else if (inline_found > 0)
        bw_ready_set(r, BW_READY_FAIL, "%ld secret-shaped value(s) inline in the config file",
                     inline_found);
    else if (db_password || up_password)
        bw_ready_set(r, BW_READY_FAIL,
                     "a URL in the config carries a password (use the "
                     "environment or a 0600 file)");
    else if (bad_files)
        bw_ready_set(r, BW_READY_FAIL,
                     "%d named secret file(s) missing or readable by group or "
                     "other",
                     bad_files);
    else
        bw_ready_set(r, BW_READY_PASS, "no secret inline; named secret files are 0600");
}

/* ---- transport ---- */

/* 1 if host is a loopback address or "localhost": nothing off this machine can connect. */
int bw_ready_host_is_loopback(const char *host) {
    if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 || strcmp(host, "[::1]") == 0)
        return 1;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return 0;
}

/* The one place that decides the transport verdict. Today the config offers listen_host
 * only; when TLS termination lands (listen_tls) its "TLS on" branch goes first here. */
void bw_ready_transport(const struct bw_ready_ctx *c, struct bw_ready_result *r) {
    const struct bw_config *cfg = c->env->cfg;
    struct bw_transport t;
    bw_transport_of(cfg, &t);
    int metrics_remote =
        cfg->metrics_listen_host[0] && !bw_ready_host_is_loopback(cfg->metrics_listen_host);
    json_t *v = bw_ready_values(r);
    json_object_set_new(v, "tls", json_boolean(t.tls_on));
    json_object_set_new(v, "plain_http", json_boolean(t.plain_on));
    json_object_set_new(v, "loopback_only", json_boolean(t.plain_loopback_only));
    json_object_set_new(v, "allow_plain_http", json_boolean(t.plain_allowed));
    json_object_set_new(v, "metrics_remote_unauthenticated", json_boolean(metrics_remote));
    /* allow_plain_http lets a plain non-loopback listener start (behind a TLS proxy on a private
     * network, say); the gateway cannot see that proxy, so the verdict stays fail. */
    if (t.plain_on && !t.plain_loopback_only)
        bw_ready_set(r, BW_READY_FAIL,
                     "plain HTTP on a non-loopback address: credentials and "
                     "prompts cross the network unencrypted");
    else if (metrics_remote)
        bw_ready_set(r, BW_READY_WARN,
                     "the metrics listener is on a non-loopback address without authentication");
    else if (t.tls_on)
        bw_ready_set(r, BW_READY_PASS,
                     t.plain_on ? "TLS listener; plain HTTP on loopback only" : "TLS only");
    else
        bw_ready_set(r, BW_READY_PASS, "plain HTTP on loopback only (terminate TLS in front)");
}
