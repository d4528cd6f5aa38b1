/* cli_admin.c: shared setup for `bulwark org|key|agent` (cli_admin.h). */
#include "cli/cli_admin.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "auth/auth.h"
#include "config/config.h"
#include "reason/reasons.h"
#include "store/connections.h"
#include "store/sql.h"
#include "util/time.h"
#include "vault/keyring.h"

/* The pepper is sealed in the store (auth.h bw_auth_pepper_load): the store comes first. */
static int load_pepper(struct bw_cli_admin *a, const char *dir) {
    struct bw_keyring *keys = NULL;
    bw_err e = bw_keyring_load(dir, &keys);
    if (e != BW_OK)
        return bw_cli_fail(a->cmd, "cannot load the master keys in %s: %s", dir, bw_err_str(e));
    a->pepper = sodium_malloc(32);
    e = a->pepper ? bw_auth_pepper_load(a->store, keys, a->pepper) : BW_E_NOMEM;
    bw_keyring_free(keys);
    return e == BW_OK ? 0
                      : bw_cli_fail(a->cmd, "cannot open the key-hash pepper: %s", bw_err_str(e));
}

int bw_cli_admin_open(const struct bw_cmd *cmd, const char *dir, const char *database, int write,
                      struct bw_cli_admin *a) {
    return bw_cli_admin_open_ex(cmd, dir, database, write, 1, a);
}

int bw_cli_admin_open_ex(const struct bw_cmd *cmd, const char *dir, const char *database, int write,
                         int pepper, struct bw_cli_admin *a) {
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    char path[4096], err[600], db[4096];
    struct bw_config cfg;
    bw_config_defaults(&cfg);
    snprintf(path, sizeof path, "%s/bulwark.yaml", dir);
    if (bw_config_load(path, &cfg, err, sizeof err) != BW_OK)
        return bw_cli_fail(cmd, "%s", err);
    if (database)
        snprintf(db, sizeof db, "%s", database);
    else if (cfg.database[0])
        snprintf(db, sizeof db, "%s", cfg.database);
    else
        snprintf(db, sizeof db, "%s/bulwark.db", dir);
    bw_config_cleanup(&cfg);
    bw_err e = bw_store_open(db, 0, &a->store);
    if (e != BW_OK)
        return bw_cli_fail(cmd, "cannot open the database: %s", bw_err_str(e));
    int rc = pepper ? load_pepper(a, dir) : 0;
    if (rc)
        return rc;
    if (!write)
        return 0;
    if (evthread_use_pthreads() != 0) /* the ledger completes on our base from its thread */
        return bw_cli_fail(cmd, "cannot set up threads");
    snprintf(path, sizeof path, "%s/ledger", dir);
    struct bw_ledger_opts lo = {.batch_max = 16};
    e = bw_ledger_open(path, &lo, &a->ledger);
    if (e != BW_OK)
        return bw_cli_fail(cmd,
                           "cannot open the ledger (%s): is `bulwark serve` running on %s? Changes "
                           "need their admin receipt: use the API while it runs",
                           bw_err_str(e), dir);
    return 0;
}

void bw_cli_admin_close(struct bw_cli_admin *a) {
    bw_ledger_close(a->ledger);
    bw_store_close(a->store);
    if (a->pepper)
        sodium_free(a->pepper);
    memset(a, 0, sizeof *a);
}

struct wait {
    struct event_base *base;
    bw_err err;
    int done;
};

static void on_durable(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct wait *w = arg;
    w->err = err;
    w->done = 1;
    event_base_loopbreak(w->base);
}

int bw_cli_admin_record(struct bw_cli_admin *a, const char *org_id, const char *action,
                        const char *target) {
    struct bw_receipt r;
    bw_api_admin_receipt(&r, NULL, org_id, action, target, BW_R_ADMIN_CHANGE, NULL, 0);
    struct wait w = {event_base_new(), BW_E_UNAVAILABLE, 0};
    if (!w.base)
        return bw_cli_fail(a->cmd, "out of memory");
    bw_ledger_append(a->ledger, &r, w.base, on_durable, &w);
    while (!w.done)
        event_base_loop(w.base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
    event_base_free(w.base);
    return w.err == BW_OK ? 0
                          : bw_cli_fail(a->cmd, "the admin receipt could not be made durable: "
                                                "nothing was changed");
}

int bw_cli_admin_org(struct bw_cli_admin *a, const char *org, char id[BW_ID_SIZE]) {
    if (bw_sql_id_ok(org)) {
        struct bw_org_record o;
        if (bw_store_org_get(a->store, org, &o) == BW_OK) {
            snprintf(id, BW_ID_SIZE, "%s", o.id);
            return 0;
        }
    }
    bw_err e = bw_store_org_by_name(a->store, org, id);
    if (e == BW_E_NOT_FOUND)
        return bw_cli_fail(a->cmd, "no org with that id or name");
    return e == BW_OK ? 0 : bw_cli_fail(a->cmd, "cannot read orgs: %s", bw_err_str(e));
}
