/* bulwark key: operators' key management on a stopped gateway's data directory (cli_admin.h).
 * Prints JSON; a new key's secret is printed once and never again. Org keys and operator keys
 * (--operator) have the same lifecycle: create (with expiry), list (with last use), revoke,
 * rotate with a grace period; every change is an admin receipt first (docs/ACCESS.md). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "cli/cli_admin.h"
#include "util/time.h"

#define MAX_EXPIRES_S (10LL * 366 * 86400)
#define MAX_GRACE_S (30LL * 86400)

static const char usage[] =
    "usage: bulwark key create --data DIR --org ORG --role ROLE [--member MEMBER_ID]\n"
    "                          [--agent NAME] [--name LABEL] [--expires-in-s N]\n"
    "       bulwark key create --data DIR --operator [--name LABEL] [--expires-in-s N]\n"
    "       bulwark key list   --data DIR (--org ORG | --operator)\n"
    "       bulwark key revoke --data DIR (--org ORG | --operator) KEY_ID\n"
    "       bulwark key rotate --data DIR (--org ORG | --operator) [--grace-s N] KEY_ID\n"
    "\n"
    "ORG is an org id or name; ROLE one of owner, admin, reviewer, member, agent. An org key\n"
    "belongs to one person: --member (whose role must cover ROLE), else to the operator. An\n"
    "operator key belongs to no org (docs/ACCESS.md). Here on the host even the last live\n"
    "operator key may be revoked (create another with this command). --database URL overrides\n"
    "the config's database. Changes append an admin receipt to DIR's ledger first, so they\n"
    "refuse while `bulwark serve` runs on DIR: use the API then (/api/v1/keys,\n"
    "/api/v1/operator/keys).\n";

struct key_args {
    const char *verb, *dir, *database, *org, *role, *agent, *name, *member, *key_id;
    const char *expires_in, *grace;
    int operator_key;
};

static int parse(int argc, char **argv, struct key_args *k) {
    const struct bw_cmd *cmd = &bw_cmd_key;
    memset(k, 0, sizeof *k);
    if (argc < 2)
        return bw_cli_usage_error(cmd, "a verb is required (create, list, revoke, rotate)");
    k->verb = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char **slot = strcmp(o, "--data") == 0           ? &k->dir
                            : strcmp(o, "--database") == 0     ? &k->database
                            : strcmp(o, "--org") == 0          ? &k->org
                            : strcmp(o, "--role") == 0         ? &k->role
                            : strcmp(o, "--agent") == 0        ? &k->agent
                            : strcmp(o, "--name") == 0         ? &k->name
                            : strcmp(o, "--member") == 0       ? &k->member
                            : strcmp(o, "--expires-in-s") == 0 ? &k->expires_in
                            : strcmp(o, "--grace-s") == 0      ? &k->grace
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
    if (k->operator_key && k->org)
        return bw_cli_usage_error(cmd, "--operator and --org exclude each other");
    return 0;
}

/* A whole number of seconds in [min, max]: 0 and *out, or -1. */
static int seconds(const char *text, long long min, long long max, long long *out) {
    char *end = NULL;
    long long v = text ? strtoll(text, &end, 10) : -1;
    if (!text || !*text || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int print_key(void *arg, const struct bw_key_record *r) {
    (void)arg;
    printf("{\"id\":\"%s\",\"role\":\"%s\",\"agent\":\"%s\",\"name\":\"%s\",\"principal\":\"%s\","
           "\"created_by\":\"%s\",\"rotated_to\":\"%s\",\"created_ms\":%lld,\"expires_ms\":%lld,"
           "\"revoked_ms\":%lld,\"last_used_ms\":%lld}\n",
           r->id, r->role, r->agent, r->name, r->member_id, r->created_by, r->rotated_to,
           (long long)r->created_ms, (long long)r->expires_ms, (long long)r->revoked_ms,
           (long long)r->last_used_ms);
    return 0;
}

/* The key's person: --member must be a member of the org whose role covers the key's role;
 * without it the key is the operator's own. 0, or the exit code after printing. */
static int principal(struct bw_cli_admin *a, const struct key_args *k, struct bw_key_record *r) {
    if (!k->member) {
        snprintf(r->member_id, sizeof r->member_id, "operator");
        return 0;
    }
    struct bw_member_record m;
    bw_err e = bw_store_member_get(a->store, r->org_id, k->member, &m);
    if (e != BW_OK)
        return bw_cli_fail(&bw_cmd_key, "no such member in this org: %s", bw_err_str(e));
    if (!bw_auth_role_covers(m.role, r->role))
        return bw_cli_fail(&bw_cmd_key, "a person with role %s cannot hold a %s key", m.role,
                           r->role);
    snprintf(r->member_id, sizeof r->member_id, "%s", m.id);
    return 0;
}

static int create(struct bw_cli_admin *a, const struct key_args *k) {
    struct bw_key_record r;
    memset(&r, 0, sizeof r);
    bw_store_new_id("key", r.id);
    long long expires_in = 0;
    if (k->expires_in && seconds(k->expires_in, 1, MAX_EXPIRES_S, &expires_in) != 0)
        return bw_cli_usage_error(&bw_cmd_key, "--expires-in-s must be 1 to %lld", MAX_EXPIRES_S);
    if (k->operator_key) {
        snprintf(r.role, sizeof r.role, "operator");
        snprintf(r.member_id, sizeof r.member_id, "operator");
    } else {
        if (!k->org || !k->role)
            return bw_cli_usage_error(&bw_cmd_key, "--org and --role are required");
        int rc = bw_cli_admin_org(a, k->org, r.org_id);
        if (rc)
            return rc;
        snprintf(r.role, sizeof r.role, "%s", k->role);
        snprintf(r.agent, sizeof r.agent, "%s", k->agent ? k->agent : "");
        if ((rc = principal(a, k, &r)) != 0)
            return rc;
    }
    snprintf(r.name, sizeof r.name, "%s", k->name ? k->name : "");
    snprintf(r.created_by, sizeof r.created_by, "cli");
    r.created_ms = bw_now_ms();
    r.expires_ms = expires_in ? r.created_ms + expires_in * 1000 : 0;
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
        printf("{\"id\":\"%s\",\"role\":\"%s\",\"principal\":\"%s\",\"expires_ms\":%lld,"
               "\"key\":\"%s\"}\n",
               r.id, r.role, r.member_id, (long long)r.expires_ms, secret);
    sodium_memzero(secret, BW_KEY_SIZE);
    sodium_free(secret);
    return rc;
}

static bw_err get_key(struct bw_cli_admin *a, const char *org_id, const char *id,
                      struct bw_key_record *out) {
    return org_id[0] ? bw_store_key_get(a->store, org_id, id, out)
                     : bw_store_operator_key_get(a->store, id, out);
}

static int revoke(struct bw_cli_admin *a, const char *org_id, const char *id) {
    int rc = bw_cli_admin_record(a, org_id, "key.revoke", id);
    if (rc)
        return rc;
    int64_t now = bw_now_ms();
    bw_err e = org_id[0] ? bw_store_key_revoke(a->store, org_id, id, now)
                         : bw_store_operator_key_revoke(a->store, id, now, 0);
    if (e != BW_OK)
        return bw_cli_fail(&bw_cmd_key, "cannot revoke: %s", bw_err_str(e));
    printf("{\"id\":\"%s\",\"revoked\":true}\n", id);
    return 0;
}

/* The successor keeps role, agent, name, principal and the remaining lifetime; the old key
 * works until now + grace. */
static int rotate(struct bw_cli_admin *a, const struct key_args *k, const char *org_id) {
    long long grace = 86400;
    if (k->grace && seconds(k->grace, 0, MAX_GRACE_S, &grace) != 0)
        return bw_cli_usage_error(&bw_cmd_key, "--grace-s must be 0 to %lld", MAX_GRACE_S);
    struct bw_key_record old, r;
    bw_err e = get_key(a, org_id, k->key_id, &old);
    if (e != BW_OK)
        return bw_cli_fail(&bw_cmd_key, "cannot rotate: %s", bw_err_str(e));
    r = old;
    bw_store_new_id("key", r.id);
    snprintf(r.created_by, sizeof r.created_by, "cli");
    r.created_ms = bw_now_ms();
    r.revoked_ms = r.last_used_ms = 0;
    r.rotated_to[0] = 0;
    int64_t grace_until = r.created_ms + grace * 1000;
    char target[2 * BW_ID_SIZE + 2];
    snprintf(target, sizeof target, "%s>%s", old.id, r.id);
    char *secret = sodium_malloc(BW_KEY_SIZE);
    if (!secret)
        return bw_cli_fail(&bw_cmd_key, "out of memory");
    bw_auth_key_generate(secret);
    bw_auth_key_hash(a->pepper, secret, strlen(secret), r.hash);
    int rc = bw_cli_admin_record(a, org_id, "key.rotate", target);
    if (!rc) {
        e = org_id[0]
                ? bw_store_key_rotate(a->store, org_id, old.id, &r, grace_until, r.created_ms)
                : bw_store_operator_key_rotate(a->store, old.id, &r, grace_until, r.created_ms);
        if (e != BW_OK)
            rc = bw_cli_fail(&bw_cmd_key, "cannot rotate (revoked, expired or rotated?): %s",
                             bw_err_str(e));
    }
    if (!rc)
        printf("{\"id\":\"%s\",\"role\":\"%s\",\"replaces\":\"%s\",\"grace_until_ms\":%lld,"
               "\"key\":\"%s\"}\n",
               r.id, r.role, old.id, (long long)grace_until, secret);
    sodium_memzero(secret, BW_KEY_SIZE);
    sodium_free(secret);
    return rc;
}

/* list, revoke, rotate: on the org's keys or the operator's. */
static int on_existing(struct bw_cli_admin *a, const struct key_args *k) {
    char org_id[BW_ID_SIZE] = "";
    int rc = 0;
    if (!k->operator_key && !k->org)
        return bw_cli_usage_error(&bw_cmd_key, "--org or --operator is required");
    if (k->org && (rc = bw_cli_admin_org(a, k->org, org_id)) != 0)
        return rc;
    if (strcmp(k->verb, "list") == 0) {
        bw_err e = k->operator_key ? bw_store_operator_key_list(a->store, 1, print_key, NULL)
                                   : bw_store_key_list(a->store, org_id, 1, print_key, NULL);
        return e == BW_OK ? 0 : bw_cli_fail(&bw_cmd_key, "cannot list: %s", bw_err_str(e));
    }
    if (!k->key_id)
        return bw_cli_usage_error(&bw_cmd_key, "%s needs a KEY_ID", k->verb);
    return strcmp(k->verb, "revoke") == 0 ? revoke(a, org_id, k->key_id) : rotate(a, k, org_id);
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
        strcmp(k.verb, "revoke") != 0 && strcmp(k.verb, "rotate") != 0)
        return bw_cli_usage_error(&bw_cmd_key, "unknown verb %s", k.verb);
    struct bw_cli_admin a;
    if ((rc = bw_cli_admin_open(&bw_cmd_key, k.dir, k.database, write, &a)) != 0) {
        bw_cli_admin_close(&a);
        return rc;
    }
    rc = strcmp(k.verb, "create") == 0 ? create(&a, &k) : on_existing(&a, &k);
    bw_cli_admin_close(&a);
    return rc;
}

const struct bw_cmd bw_cmd_key = {"key", "create, list, revoke and rotate API keys (operators)",
                                  usage, run};
