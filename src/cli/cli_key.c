/* bulwark key: operators' key management on a stopped gateway's data directory (cli_admin.h).
 * Prints JSON; a new key's secret is printed once and never again. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "cli/cli_admin.h"
#include "util/time.h"

static const char usage[] =
    "usage: bulwark key create --data DIR --org ORG --role ROLE [--agent NAME] [--name LABEL]\n"
    "       bulwark key create --data DIR --operator [--name LABEL]\n"
    "       bulwark key list   --data DIR --org ORG\n"
    "       bulwark key revoke --data DIR --org ORG KEY_ID\n"
    "\n"
    "ORG is an org id or name; ROLE one of owner, admin, reviewer, member, agent. An operator\n"
    "key belongs to no org (docs/ACCESS.md). --database URL overrides the config's database.\n"
    "Changes append an admin receipt to DIR's ledger first, so they refuse while `bulwark\n"
    "serve` runs on DIR: use the API then (POST /api/v1/keys).\n";

struct key_args {
    const char *verb, *dir, *database, *org, *role, *agent, *name, *key_id;
    int operator_key;
};

static int parse(int argc, char **argv, struct key_args *k) {
    const struct bw_cmd *cmd = &bw_cmd_key;
    memset(k, 0, sizeof *k);
    if (argc < 2)
        return bw_cli_usage_error(cmd, "a verb is required (create, list, revoke)");
    k->verb = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char **slot = strcmp(o, "--data") == 0       ? &k->dir
                            : strcmp(o, "--database") == 0 ? &k->database
                            : strcmp(o, "--org") == 0      ? &k->org
                            : strcmp(o, "--role") == 0     ? &k->role
                            : strcmp(o, "--agent") == 0    ? &k->agent
                            : strcmp(o, "--name") == 0     ? &k->name
                                                           : NULL;
        if (strcmp(o, "--operator") == 0) {
            k->operator_key = 1;
        } else if (slot) {
            if (i + 1 >= argc || *slot)
                return bw_cli_usage_error(cmd, "%s needs one value", o);
            *slot = argv[++i];
        } else if (o[0] != '-' && !k->key_id) {
            k->key_id = o;
        } else {
            return bw_cli_usage_error(cmd, "unknown option %s", o);
        }
    }
    if (!k->dir)
        return bw_cli_usage_error(cmd, "--data DIR is required");
    return 0;
}

static int print_key(void *arg, const struct bw_key_record *r) {
    (void)arg;
    printf("{\"id\":\"%s\",\"role\":\"%s\",\"agent\":\"%s\",\"revoked_ms\":%lld,"
           "\"expires_ms\":%lld}\n",
           r->id, r->role, r->agent, (long long)r->revoked_ms, (long long)r->expires_ms);
    return 0;
}

static int create(struct bw_cli_admin *a, const struct key_args *k) {
    struct bw_key_record r;
    memset(&r, 0, sizeof r);
    bw_store_new_id("key", r.id);
    if (k->operator_key) {
        snprintf(r.role, sizeof r.role, "operator");
    } else {
        if (!k->org || !k->role)
            return bw_cli_usage_error(&bw_cmd_key, "--org and --role are required");
        int rc = bw_cli_admin_org(a, k->org, r.org_id);
        if (rc)
            return rc;
        snprintf(r.role, sizeof r.role, "%s", k->role);
        snprintf(r.agent, sizeof r.agent, "%s", k->agent ? k->agent : "");
    }
    snprintf(r.name, sizeof r.name, "%s", k->name ? k->name : "");
    snprintf(r.created_by, sizeof r.created_by, "cli");
    r.created_ms = bw_now_ms();
    char *secret = sodium_malloc(BW_KEY_SIZE);
    if (!secret)
        return bw_cli_fail(&bw_cmd_key, "out of memory");
    bw_auth_key_generate(secret);
    bw_auth_key_hash(a->pepper, secret, strlen(secret), r.hash);
    int rc = bw_cli_admin_record(a, r.org_id, "key.create", r.id);
    bw_err e = rc ? BW_OK : bw_store_key_insert(a->store, &r);
    if (!rc && e != BW_OK)
        rc = bw_cli_fail(&bw_cmd_key, "cannot create the key: %s%s", bw_err_str(e),
                         e == BW_E_INVALID ? " (unknown role?)" : "");
    if (!rc)
        printf("{\"id\":\"%s\",\"role\":\"%s\",\"key\":\"%s\"}\n", r.id, r.role, secret);
    sodium_memzero(secret, BW_KEY_SIZE);
    sodium_free(secret);
    return rc;
}

static int run(int argc, char **argv) {
    if (bw_cli_wants_help(&bw_cmd_key, argc, argv))
        return 0;
    struct key_args k;
    int rc = parse(argc, argv, &k);
    if (rc)
        return rc;
    int write = strcmp(k.verb, "list") != 0;
    if (strcmp(k.verb, "create") != 0 && strcmp(k.verb, "list") != 0 &&
        strcmp(k.verb, "revoke") != 0)
        return bw_cli_usage_error(&bw_cmd_key, "unknown verb %s", k.verb);
    struct bw_cli_admin a;
    if ((rc = bw_cli_admin_open(&bw_cmd_key, k.dir, k.database, write, &a)) != 0) {
        bw_cli_admin_close(&a);
        return rc;
    }
    char org_id[BW_ID_SIZE];
    if (strcmp(k.verb, "create") == 0) {
        rc = create(&a, &k);
    } else if (!k.org) {
        rc = bw_cli_usage_error(&bw_cmd_key, "--org is required");
    } else if ((rc = bw_cli_admin_org(&a, k.org, org_id)) == 0) {
        if (strcmp(k.verb, "list") == 0) {
            bw_err e = bw_store_key_list(a.store, org_id, 1, print_key, NULL);
            rc = e == BW_OK ? 0 : bw_cli_fail(&bw_cmd_key, "cannot list: %s", bw_err_str(e));
        } else if (!k.key_id) {
            rc = bw_cli_usage_error(&bw_cmd_key, "revoke needs a KEY_ID");
        } else if ((rc = bw_cli_admin_record(&a, org_id, "key.revoke", k.key_id)) == 0) {
            bw_err e = bw_store_key_revoke(a.store, org_id, k.key_id, bw_now_ms());
            rc = e == BW_OK ? 0 : bw_cli_fail(&bw_cmd_key, "cannot revoke: %s", bw_err_str(e));
            if (!rc)
                printf("{\"id\":\"%s\",\"revoked\":true}\n", k.key_id);
        }
    }
    bw_cli_admin_close(&a);
    return rc;
}

const struct bw_cmd bw_cmd_key = {"key", "create, list and revoke API keys (operators)", usage,
                                  run};
