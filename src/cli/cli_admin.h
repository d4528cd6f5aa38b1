/* cli_admin.h: what the operator subcommands (org, key, agent) share: the data directory's
 * config, the key-hash pepper (sealed in the store), store, and ledger, and "receipt first, then
 * the change".
 *
 * The ledger has one writer: while `bulwark serve` runs on DIR, these commands refuse (use the
 * API with an admin or operator key instead), because a change without its admin receipt is not
 * allowed (fail closed). Options common to all: --data DIR (required), --database URL (overrides
 * the config's). */
#ifndef BW_CLI_ADMIN_H
#define BW_CLI_ADMIN_H

#include <stdint.h>
#include "util/err.h"

#include "cli/cli.h"
#include "ledger/ledger.h"
#include "store/identity.h"

struct bw_cli_admin {
    const struct bw_cmd *cmd;
    struct bw_store *store;
    struct bw_ledger *ledger; /* NULL for read-only commands */
    uint8_t *pepper;          /* 32 bytes, sodium_malloc'd */
};

/* Opens DIR's store (and ledger when `write`). Returns 0, or the exit code after printing. */
int bw_cli_admin_open(const struct bw_cmd *cmd, const char *dir, const char *database, int write,
                      struct bw_cli_admin *a) BW_MUST_CHECK;
/* As bw_cli_admin_open; pepper = 0 leaves a->pepper NULL and does not read the master keys
 * (for `bulwark vault`, which loads them itself). */
int bw_cli_admin_open_ex(const struct bw_cmd *cmd, const char *dir, const char *database, int write,
                         int pepper, struct bw_cli_admin *a) BW_MUST_CHECK;
void bw_cli_admin_close(struct bw_cli_admin *a);

/* Appends an admin receipt (principal "cli", route = action, rule = target) and waits until it
 * is durable. 0, or the exit code after printing. */
int bw_cli_admin_record(struct bw_cli_admin *a, const char *org_id, const char *action,
                        const char *target) BW_MUST_CHECK;

/* Resolves an org given by id or name into id. 0, or the exit code after printing. */
int bw_cli_admin_org(struct bw_cli_admin *a, const char *org, char id[BW_ID_SIZE]) BW_MUST_CHECK;

#endif
