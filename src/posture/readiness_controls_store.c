/* readiness_controls_store.c: store_isolation, egress_guard, upstream_credentials
 * (readiness_internal.h; docs/API.md "Security readiness"). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/config.h"
#include "connect/connect.h"
#include "egress/egress.h"
#include "gateway/gateway.h"
#include "posture/readiness_internal.h"
#include "store/isolation.h"
#include "store/store.h"

#define CATALOG_TIMEOUT_MS 2000

/* ---- store_isolation ---- */

static json_t *name_list(char names[][BW_ISOLATION_NAME], size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < n && i < BW_ISOLATION_MAX_LISTED; i++)
        json_array_append_new(a, json_string(names[i]));
    return a;
}

static void isolation_pg(const struct bw_ready_ctx *c, struct bw_ready_result *r) {
    struct bw_store_isolation iso;
    json_t *v = bw_ready_values(r);
    json_object_set_new(v, "backend", json_string("postgresql"));
    if (!c->store || bw_store_isolation_read(c->store, CATALOG_TIMEOUT_MS, &iso) != BW_OK) {
        bw_ready_store_failed(c);
        bw_ready_set(r, BW_READY_FAIL, "the catalog cannot be read through the runtime role");
        return;
    }
    json_object_set_new(v, "tables", json_integer((json_int_t)iso.tables));
    json_object_set_new(v, "rls_disabled", name_list(iso.rls_off_names, iso.rls_off));
    json_object_set_new(v, "rls_not_forced", name_list(iso.not_forced_names, iso.not_forced));
    json_object_set_new(v, "owned_by_runtime_role", name_list(iso.owned_names, iso.owned));
    json_object_set_new(v, "runtime_role_superuser", json_boolean(iso.superuser));
    json_object_set_new(v, "runtime_role_bypassrls", json_boolean(iso.bypassrls));
    if (!iso.role_found || iso.tables == 0)
        bw_ready_set(r, BW_READY_FAIL, "the runtime role sees no tables or no role record");
    else if (iso.superuser || iso.bypassrls)
        bw_ready_set(r, BW_READY_FAIL, "the runtime role is a superuser or bypasses RLS");
    else if (iso.owned)
        bw_ready_set(r, BW_READY_FAIL, "the runtime role owns %zu table(s)", iso.owned);
    else if (iso.rls_off || iso.not_forced)
        bw_ready_set(r, BW_READY_FAIL, "%zu table(s) without RLS enabled, %zu without RLS forced",
                     iso.rls_off, iso.not_forced);
    else
        bw_ready_set(r, BW_READY_PASS,
                     "RLS enabled and forced on all %zu tables; the runtime "
                     "role owns none and does not bypass RLS",
                     iso.tables);
}

static void put_file_mode(json_t *v, const char *name, const struct bw_ready_file *f) {
    char m[8];
    snprintf(m, sizeof m, "%04o", f->mode);
    json_object_set_new(v, name, f->exists ? json_string(m) : json_null());
}

/* SQLite: the data directory 0700 and the database files (with its WAL and shared-memory
 * files, which hold the same rows) readable by the owner only. */
static void isolation_sqlite(const struct bw_ready_ctx *c, struct bw_ready_result *r) {
    const char *db = c->env->gw->db_path;
    json_t *v = bw_ready_values(r);
    json_object_set_new(v, "backend", json_string("sqlite"));
    struct stat st;
    int dir_ok = stat(c->env->data_dir, &st) == 0 && S_ISDIR(st.st_mode);
    unsigned dir_mode = dir_ok ? (unsigned)(st.st_mode & 07777) : 0;
    char m[8];
    snprintf(m, sizeof m, "%04o", dir_mode);
    json_object_set_new(v, "data_dir_mode", dir_ok ? json_string(m) : json_null());
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    static const char *const names[] = {"db_file_mode", "wal_file_mode", "shm_file_mode"};
    int readable = 0, db_missing = 0;
    for (size_t i = 0; i < 3; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s%s", db, suffixes[i]);
        struct bw_ready_file f;
        bw_ready_stat(path, &f);
        put_file_mode(v, names[i], &f);
        if (i == 0 && !f.exists)
            db_missing = 1;
        if (f.exists && (!f.regular || (f.mode & 044)))
            readable++;
    }
    if (!dir_ok || db_missing)
        bw_ready_set(r, BW_READY_FAIL, "the data directory or the database file is missing");
    else if (dir_mode & 077)
        bw_ready_set(r, BW_READY_FAIL,
                     "the data directory is open to group or other (mode "
                     "%04o, want 0700)",
                     dir_mode);
    else if (readable)
        bw_ready_set(r, BW_READY_FAIL, "%d database file(s) readable by group or other", readable);
    else
        bw_ready_set(r, BW_READY_PASS, "data directory 0700, database files private");
}

void bw_ready_store_isolation(const struct bw_ready_ctx *c, struct bw_ready_result *r) {
    if (bw_store_is_postgres(c->env->gw->db_path))
        isolation_pg(c, r);
    else
        isolation_sqlite(c, r);
}

/* ---- egress_guard ---- */

/* 1 if the guard in force refuses url (checked statically, as dispatch does). */
static int guard_refuses(const struct bw_egress_policy *p, const char *url) {
    struct bw_egress_target *t = malloc(sizeof *t); /* ~4.5 KiB: not on the stack */
    char why[BW_EGRESS_WHY_SIZE];
    int refused = !t || bw_egress_probe_url_static(p, url, t, why, sizeof why) != BW_OK;
    free(t);
    return refused || !t;
}

/* An allowlist CIDR shorter than /8 (IPv4) or /16 (IPv6) opens most of an address family. */
static int entry_is_broad(const char *e) {
    const char *slash = strchr(e, '/');
    if (!slash)
        return 0;
    long bits = strtol(slash + 1, NULL, 10);
    return strchr(e, ':') ? bits < 16 : bits < 8;
}

void bw_ready_egress_guard(const struct bw_ready_ctx *c, struct bw_ready_result *r) {
    const struct bw_gateway *gw = c->env->gw;
    const struct bw_config *cfg = c->env->cfg;
    json_t *v = bw_ready_values(r);
    json_t *allow = json_array();
    size_t broad = 0;
    for (size_t i = 0; i < cfg->n_egress_allow; i++) {
        json_array_append_new(allow, json_string(cfg->egress_allow[i]));
        broad += (size_t)entry_is_broad(cfg->egress_allow[i]);
    }
    /* Operator view only (readiness.h): the operator's own allowlist. */
    json_object_set_new(v, "allowlist", allow);
    int wired = gw->connect != NULL && gw->outbox != NULL;
    const struct bw_egress_policy *p = gw->connect ? gw->connect->policy : NULL;
    /* A live probe of the guard the connections and the outbox use: cloud metadata must be
     * refused whatever the allowlist says about other space; loopback unless allowlisted. */
    int meta_refused = guard_refuses(p, "http://169.254.169.254/latest/meta-data/");
    int loop_refused = guard_refuses(p, "http://127.0.0.1:9/");
    json_t *paths = json_object();
    json_object_set_new(paths, "connections", json_boolean(gw->connect != NULL));
    json_object_set_new(paths, "outbox_deliveries", json_boolean(gw->outbox != NULL));
    json_object_set_new(paths, "model_upstream", json_string("operator_configured"));
    json_object_set_new(v, "guarded_paths", paths);
    json_object_set_new(v, "metadata_refused", json_boolean(meta_refused));
    json_object_set_new(v, "loopback_refused", json_boolean(loop_refused));
    json_object_set_new(v, "broad_allowlist_entries", json_integer((json_int_t)broad));
    json_object_set_new(v, "connections_allow_http", json_boolean(cfg->connections_allow_http));
    if (!wired)
        bw_ready_set(r, BW_READY_FAIL, "an outbound path runs without the egress guard");
    else if (!meta_refused)
        bw_ready_set(r, BW_READY_FAIL, "the egress guard admits the cloud metadata address");
    else if (!loop_refused || broad)
        bw_ready_set(r, BW_READY_WARN,
                     "the allowlist admits loopback or a broad range "
                     "(%zu broad entries)",
                     broad);
    else if (cfg->connections_allow_http)
        bw_ready_set(r, BW_READY_WARN, "connections may use plain http:// (tests only)");
    else
        bw_ready_set(r, BW_READY_PASS,
                     "active on connections and deliveries; %zu allowlist "
                     "entries",
                     cfg->n_egress_allow);
}

/* ---- upstream_credentials ---- */

void bw_ready_upstream_credentials(const struct bw_ready_ctx *c, struct bw_ready_result *r) {
    const struct bw_config *cfg = c->env->cfg;
    const struct bw_gateway *gw = c->env->gw;
    json_t *v = bw_ready_values(r);
    int mock = strcmp(cfg->upstream_url, "mock") == 0;
    if (cfg->upstream_key_env[0]) {
        const char *val = getenv(cfg->upstream_key_env);
        json_object_set_new(v, "source", json_string("env"));
        json_object_set_new(v, "present", json_boolean(val && *val));
        if (val && *val && gw->upstream_auth)
            bw_ready_set(r, BW_READY_PASS, "the provider key comes from the environment");
        else
            bw_ready_set(r, BW_READY_FAIL, "the environment variable the config names is unset");
        return;
    }
    if (cfg->upstream_key_file[0]) {
        struct bw_ready_file f;
        bw_ready_stat(cfg->upstream_key_file, &f);
        json_object_set_new(v, "source", json_string("file"));
        put_file_mode(v, "file_mode", &f);
        if (!f.exists)
            bw_ready_set(r, BW_READY_FAIL, "the provider key file is missing");
        else if (!bw_ready_private(&f))
            bw_ready_set(r, BW_READY_FAIL,
                         "the provider key file is readable by group or other "
                         "(mode %04o, want 0600)",
                         f.mode);
        else
            bw_ready_set(r, BW_READY_PASS, "the provider key comes from a 0600 file");
        return;
    }
    json_object_set_new(v, "source", json_string(mock ? "mock" : "none"));
    if (mock)
        bw_ready_set(r, BW_READY_PASS, "the built-in mock upstream needs no key");
    else
        bw_ready_set(r, BW_READY_WARN,
                     "no provider key configured: calls go upstream "
                     "without credentials");
}
