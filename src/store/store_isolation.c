/* store_isolation.c: the PostgreSQL catalog as the runtime role sees it (isolation.h). */
#include "store/isolation.h"

#include <stdio.h>
#include <string.h>

#include "store/sql.h"
#include "store/store_internal.h"

/* Every ordinary or partitioned table of the schema the gateway's queries resolve to.
 * pg_has_role(owner, 'MEMBER') is true when the runtime role is the owner or may become it:
 * either way FORCE would be its only barrier and it could turn RLS off. */
static const char tables_sql[] =
    "SELECT c.relname, c.relrowsecurity::int, c.relforcerowsecurity::int, "
    "pg_catalog.pg_has_role(c.relowner, 'MEMBER')::int "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = pg_catalog.current_schema() AND c.relkind IN ('r', 'p') "
    "ORDER BY c.relname";

static const char role_sql[] = "SELECT r.rolsuper::int, r.rolbypassrls::int "
                               "FROM pg_catalog.pg_roles r WHERE r.rolname = current_user";

static void note(char names[][BW_ISOLATION_NAME], size_t *count, const char *name) {
    if (*count < BW_ISOLATION_MAX_LISTED)
        snprintf(names[*count], BW_ISOLATION_NAME, "%s", name);
    (*count)++;
}

static int table_row(void *arg, const struct bw_sql_row *row) {
    struct bw_store_isolation *o = arg;
    const char *name = bw_sql_text(row, 0);
    o->tables++;
    if (bw_sql_int(row, 1) != 1)
        note(o->rls_off_names, &o->rls_off, name);
    if (bw_sql_int(row, 2) != 1)
        note(o->not_forced_names, &o->not_forced, name);
    if (bw_sql_int(row, 3) != 0)
        note(o->owned_names, &o->owned, name);
    return 0;
}

static int role_row(void *arg, const struct bw_sql_row *row) {
    struct bw_store_isolation *o = arg;
    o->superuser = bw_sql_int(row, 0) != 0;
    o->bypassrls = bw_sql_int(row, 1) != 0;
    o->role_found = 1;
    return 0;
}

bw_err bw_store_isolation_read(struct bw_store *s, int timeout_ms, struct bw_store_isolation *out) {
    if (s->kind != BW_STORE_POSTGRES)
        return BW_E_INVALID;
    struct bw_store_isolation o;
    memset(&o, 0, sizeof o);
    char ms[24];
    snprintf(ms, sizeof ms, "%d", timeout_ms);
    const struct bw_sql_arg arg = BW_SQL_T(ms);
    bw_err result = bw_sql_begin(s, NULL, 0);
    if (result != BW_OK)
        return result;
    /* Transaction-local: a hung catalog read cannot hold the refresher past the bound. */
    BW_GOTO(bw_sql_run(s, "SELECT pg_catalog.set_config('statement_timeout', $1, true)", &arg, 1,
                       NULL, NULL, NULL));
    BW_GOTO(bw_sql_run(s, tables_sql, NULL, 0, table_row, &o, NULL));
    BW_GOTO(bw_sql_run(s, role_sql, NULL, 0, role_row, &o, NULL));
    BW_GOTO(bw_sql_commit(s));
    *out = o;
    return BW_OK;
out:
    bw_sql_rollback(s);
    return result;
}

bw_err bw_store_session_timeout(struct bw_store *s, int timeout_ms) {
    if (s->kind != BW_STORE_POSTGRES)
        return BW_OK;
    char ms[24];
    snprintf(ms, sizeof ms, "%d", timeout_ms);
    const struct bw_sql_arg arg = BW_SQL_T(ms);
    /* is_local false: the settings outlive this transaction, for the whole session */
    return bw_sql_once(s, NULL, 0,
                       "SELECT pg_catalog.set_config('statement_timeout', $1, false), "
                       "pg_catalog.set_config('lock_timeout', $1, false)",
                       &arg, 1, NULL, NULL, NULL);
}
