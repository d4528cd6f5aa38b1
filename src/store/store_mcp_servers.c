/* store_mcp_servers.c: the orgs' own MCP servers (mcp_servers.h), one code path for both
 * backends through sql.h. The sealed column is read only by bw_store_mcp_server_get with a
 * buffer (the gateway's credential path); the listing selects metadata only. */
#include <stdio.h>
#include <string.h>

#include "store/identity.h"
#include "store/mcp_servers.h"
#include "store/sql.h"
#include "store/store_internal.h"

#define COLUMNS "id, org_id, name, url, sealed IS NOT NULL, fingerprint, created_by, created_ms"

static void fill(const struct bw_sql_row *r, struct bw_mcp_server_record *o) {
    memset(o, 0, sizeof *o);
    bw_sql_copy(r, 0, o->id, sizeof o->id);
    bw_sql_copy(r, 1, o->org_id, sizeof o->org_id);
    bw_sql_copy(r, 2, o->name, sizeof o->name);
    bw_sql_copy(r, 3, o->url, sizeof o->url);
    /* SQLite answers 1/0, PostgreSQL "t"/"f" for a boolean expression */
    const char *h = bw_sql_text(r, 4);
    o->has_credential = strcmp(h, "1") == 0 || strcmp(h, "t") == 0 || strcmp(h, "true") == 0;
    bw_sql_copy(r, 5, o->fingerprint, sizeof o->fingerprint);
    bw_sql_copy(r, 6, o->created_by, sizeof o->created_by);
    o->created_ms = bw_sql_int(r, 7);
}

bw_err bw_store_mcp_server_create(struct bw_store *s, const struct bw_mcp_server_record *r,
                                  const struct bw_sealed_secret *sec) {
    BW_ENSURE(bw_sql_id_ok(r->org_id) && bw_sql_id_ok(r->id), BW_E_NOT_FOUND);
    struct bw_sql_arg null = {.kind = BW_SQL_NULL};
    struct bw_sql_arg a[9] = {
        BW_SQL_T(r->id),
        BW_SQL_T(r->org_id),
        BW_SQL_T(r->name),
        BW_SQL_T(r->url),
        sec ? BW_SQL_B(sec->sealed, sec->sealed_len) : null,
        sec ? BW_SQL_B(sec->master_id, sizeof sec->master_id) : null,
        BW_SQL_T(sec ? sec->fingerprint : ""),
        BW_SQL_T(r->created_by),
        BW_SQL_I(r->created_ms),
    };
    return bw_sql_once(s, r->org_id, 1,
                       "INSERT INTO mcp_servers(id, org_id, name, url, sealed, master_id,"
                       " fingerprint, created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7,"
                       " $8, $9)",
                       a, 9, NULL, NULL, NULL);
}

struct each {
    bw_store_mcp_server_fn fn;
    void *arg;
};

static int each_row(void *arg, const struct bw_sql_row *r) {
    struct each *e = arg;
    struct bw_mcp_server_record o;
    fill(r, &o);
    return e->fn(e->arg, &o);
}

bw_err bw_store_mcp_server_list(struct bw_store *s, const char *org_id, bw_store_mcp_server_fn fn,
                                void *arg) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct each e = {fn, arg};
    struct bw_sql_arg v[2] = {BW_SQL_T(org_id), BW_SQL_I(BW_STORE_LIST_MAX)};
    return bw_sql_once(s, org_id, 0,
                       "SELECT " COLUMNS " FROM mcp_servers WHERE org_id = $1 ORDER BY name"
                       " LIMIT $2",
                       v, 2, each_row, &e, NULL);
}

struct one {
    struct bw_mcp_server_record rec;
    uint8_t *out;
    size_t size, len;
    int found, bad;
};

static int one_row(void *arg, const struct bw_sql_row *r) {
    struct one *x = arg;
    x->found = 1;
    fill(r, &x->rec);
    if (!x->out || !x->rec.has_credential)
        return 0;
    int64_t n = bw_sql_int(r, 8);
    if (n <= 0 || (uint64_t)n > x->size) {
        x->bad = 2;
        return 0;
    }
    if (bw_sql_blob(r, 9, x->out, (size_t)n) != 0)
        x->bad = 1;
    x->len = (size_t)n;
    return 0;
}

bw_err bw_store_mcp_server_get(struct bw_store *s, const char *org_id, const char *name,
                               struct bw_mcp_server_record *out, uint8_t *sealed, size_t size,
                               size_t *sealed_len) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct one x;
    memset(&x, 0, sizeof x);
    x.out = sealed;
    x.size = size;
    struct bw_sql_arg v[2] = {BW_SQL_T(org_id), BW_SQL_T(name)};
    BW_TRY(bw_sql_once(s, org_id, 0,
                       sealed ? "SELECT " COLUMNS ", length(sealed), sealed FROM mcp_servers"
                                " WHERE org_id = $1 AND name = $2"
                              : "SELECT " COLUMNS " FROM mcp_servers WHERE org_id = $1 AND"
                                " name = $2",
                       v, 2, one_row, &x, NULL));
    BW_ENSURE(x.found, BW_E_NOT_FOUND);
    BW_ENSURE(x.bad != 2, BW_E_TOO_LARGE);
    BW_ENSURE(!x.bad, BW_E_UNAVAILABLE);
    *out = x.rec;
    if (sealed_len)
        *sealed_len = x.len;
    return BW_OK;
}

bw_err bw_store_mcp_server_delete(struct bw_store *s, const char *org_id, const char *name) {
    BW_ENSURE(bw_sql_id_ok(org_id), BW_E_NOT_FOUND);
    struct bw_sql_arg v[2] = {BW_SQL_T(org_id), BW_SQL_T(name)};
    int64_t n = 0;
    BW_TRY(bw_sql_once(s, org_id, 1, "DELETE FROM mcp_servers WHERE org_id = $1 AND name = $2", v,
                       2, NULL, NULL, &n));
    return n > 0 ? BW_OK : BW_E_NOT_FOUND;
}
