/* bulwark agent: operators create and list an org's agents on a stopped gateway's data
 * directory (cli_admin.h). Widgets stay disabled: enabling one is an API call. */
#include <stdio.h>
#include <string.h>

#include "cli/cli_admin.h"
#include "util/text.h"
#include "util/time.h"

static const char usage[] = "usage: bulwark agent create --data DIR --org ORG NAME [--model M]\n"
                            "       bulwark agent list   --data DIR --org ORG\n"
                            "\n"
                            "ORG is an org id or name. --database URL overrides the config's\n"
                            "database. Changes refuse while `bulwark serve` runs on DIR\n"
                            "(POST /api/v1/agents instead).\n";

static int print_agent(void *arg, const struct bw_agent_record *r) {
    (void)arg;
    printf("{\"id\":\"%s\",\"name\":\"%s\",\"model\":\"%s\",\"widget_enabled\":%s}\n", r->id,
           r->name, r->model, r->widget_enabled ? "true" : "false");
    return 0;
}

static int create(struct bw_cli_admin *a, const char *org_id, const char *name, const char *model) {
    struct bw_agent_record r;
    memset(&r, 0, sizeof r);
    if (!bw_text_agent_ok(name))
        return bw_cli_usage_error(&bw_cmd_agent, "NAME: 1 to 63 of letters, digits, - _ .");
    bw_store_new_id("agt", r.id);
    snprintf(r.org_id, sizeof r.org_id, "%s", org_id);
    snprintf(r.name, sizeof r.name, "%s", name);
    snprintf(r.model, sizeof r.model, "%s", model ? model : "");
    r.created_ms = bw_now_ms();
    int rc = bw_cli_admin_record(a, org_id, "agent.create", r.id);
    if (rc)
        return rc;
    bw_err e = bw_store_agent_insert(a->store, &r);
    if (e != BW_OK)
        return bw_cli_fail(&bw_cmd_agent, "cannot create the agent: %s%s", bw_err_str(e),
                           e == BW_E_EXISTS ? " (name taken in this org)" : "");
    return print_agent(NULL, &r);
}

static int run(int argc, char **argv) {
    const struct bw_cmd *cmd = &bw_cmd_agent;
    if (bw_cli_wants_help(cmd, argc, argv))
        return 0;
    const char *dir = NULL, *database = NULL, *org = NULL, *model = NULL, *name = NULL;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--data") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(o, "--database") == 0 && i + 1 < argc)
            database = argv[++i];
        else if (strcmp(o, "--org") == 0 && i + 1 < argc)
            org = argv[++i];
        else if (strcmp(o, "--model") == 0 && i + 1 < argc)
            model = argv[++i];
        else if (o[0] != '-' && !name)
            name = o;
        else
            return bw_cli_usage_error(cmd, "unknown option %s", o);
    }
    if (argc < 2 || !dir || !org)
        return bw_cli_usage_error(cmd, "a verb, --data DIR and --org ORG are required");
    int create_verb = strcmp(argv[1], "create") == 0;
    if (!create_verb && strcmp(argv[1], "list") != 0)
        return bw_cli_usage_error(cmd, "unknown verb %s", argv[1]);
    if (create_verb && !name)
        return bw_cli_usage_error(cmd, "create needs a NAME");
    struct bw_cli_admin a;
    char org_id[BW_ID_SIZE];
    int rc = bw_cli_admin_open(cmd, dir, database, create_verb, &a);
    if (!rc)
        rc = bw_cli_admin_org(&a, org, org_id);
    if (!rc && create_verb) {
        rc = create(&a, org_id, name, model);
    } else if (!rc) {
        bw_err e = bw_store_agent_list(a.store, org_id, print_agent, NULL);
        rc = e == BW_OK ? 0 : bw_cli_fail(cmd, "cannot list agents: %s", bw_err_str(e));
    }
    bw_cli_admin_close(&a);
    return rc;
}

const struct bw_cmd bw_cmd_agent = {"agent", "create and list agents (operators)", usage, run};
