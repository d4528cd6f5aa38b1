/* bulwark org: operators create and list orgs on a stopped gateway's data directory
 * (cli_admin.h). Creating an org also creates its first owner key, printed once. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "cli/cli_admin.h"
#include "store/identity.h"
#include "util/time.h"

static const char usage[] = "usage: bulwark org create --data DIR [--owner-email EMAIL] NAME\n"
                            "       bulwark org list   --data DIR\n"
                            "\n"
                            "create makes the org, its first owner member (EMAIL, default\n"
                            "owner@org.invalid) and that member's first owner key (printed once).\n"
                            "--database URL overrides the config's database. Changes refuse\n"
                            "while `bulwark serve` runs on DIR (POST /api/v1/orgs instead).\n";

static int print_org(void *arg, const char *id, const char *name) {
    (void)arg;
    printf("{\"id\":\"%s\",\"name\":\"%s\"}\n", id, name);
    return 0;
}

static int create(struct bw_cli_admin *a, const char *name, const char *owner_email) {
    if (!*name || strlen(name) > 63)
        return bw_cli_usage_error(&bw_cmd_org, "NAME must be 1 to 63 bytes");
    struct bw_key_record k;
    memset(&k, 0, sizeof k);
    bw_store_new_id("key", k.id);
    snprintf(k.role, sizeof k.role, "owner");
    snprintf(k.name, sizeof k.name, "first owner");
    snprintf(k.created_by, sizeof k.created_by, "cli");
    k.created_ms = bw_now_ms();
    int rc = bw_cli_admin_record(a, "", "org.create", k.id);
    if (rc)
        return rc;
    bw_err e = bw_store_org_create(a->store, name, k.org_id);
    if (e != BW_OK)
        return bw_cli_fail(&bw_cmd_org, "cannot create the org: %s", bw_err_str(e));
    /* The first owner key belongs to a first owner member (docs/ACCESS.md "Principals"). */
    struct bw_member_record m;
    memset(&m, 0, sizeof m);
    bw_store_new_id("mem", m.id);
    snprintf(m.org_id, sizeof m.org_id, "%s", k.org_id);
    snprintf(m.email, sizeof m.email, "%s", owner_email ? owner_email : "owner@org.invalid");
    snprintf(m.role, sizeof m.role, "owner");
    m.created_ms = k.created_ms;
    if (!strchr(m.email, '@') || (e = bw_store_member_insert(a->store, &m)) != BW_OK)
        return bw_cli_fail(&bw_cmd_org, "cannot create the owner member: %s", bw_err_str(e));
    snprintf(k.member_id, sizeof k.member_id, "%s", m.id);
    char *secret = sodium_malloc(BW_KEY_SIZE);
    if (!secret)
        return bw_cli_fail(&bw_cmd_org, "out of memory");
    bw_auth_key_generate(secret);
    bw_auth_key_hash(a->pepper, secret, strlen(secret), k.hash);
    e = bw_store_key_insert(a->store, &k);
    if (e == BW_OK)
        printf("{\"org_id\":\"%s\",\"owner_member_id\":\"%s\",\"owner_key_id\":\"%s\","
               "\"owner_key\":\"%s\"}\n",
               k.org_id, m.id, k.id, secret);
    sodium_memzero(secret, BW_KEY_SIZE);
    sodium_free(secret);
    return e == BW_OK ? 0 : bw_cli_fail(&bw_cmd_org, "cannot create the owner key");
}

static int run(int argc, char **argv) {
    const struct bw_cmd *cmd = &bw_cmd_org;
    if (bw_cli_wants_help(cmd, argc, argv))
        return 0;
    const char *dir = NULL, *database = NULL, *name = NULL, *owner_email = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--database") == 0 && i + 1 < argc)
            database = argv[++i];
        else if (strcmp(argv[i], "--owner-email") == 0 && i + 1 < argc)
            owner_email = argv[++i];
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            return bw_cli_usage_error(cmd, "unknown option %s", argv[i]);
    }
    if (argc < 2 || !dir)
        return bw_cli_usage_error(cmd, "a verb and --data DIR are required");
    int create_verb = strcmp(argv[1], "create") == 0;
    if (!create_verb && strcmp(argv[1], "list") != 0)
        return bw_cli_usage_error(cmd, "unknown verb %s", argv[1]);
    if (create_verb && !name)
        return bw_cli_usage_error(cmd, "create needs a NAME");
    struct bw_cli_admin a;
    int rc = bw_cli_admin_open(cmd, dir, database, create_verb, &a);
    if (!rc && create_verb) {
        rc = create(&a, name, owner_email);
    } else if (!rc) {
        bw_err e = bw_store_orgs_each(a.store, print_org, NULL);
        rc = e == BW_OK ? 0 : bw_cli_fail(cmd, "cannot list orgs: %s", bw_err_str(e));
    }
    bw_cli_admin_close(&a);
    return rc;
}

const struct bw_cmd bw_cmd_org = {"org", "create and list orgs (operators)", usage, run};
