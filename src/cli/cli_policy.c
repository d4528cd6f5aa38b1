/* PLACEHOLDER, being replaced in this session: bulwark policy. */
#include "cli/cli.h"

static int run(int argc, char **argv) {
    if (bw_cli_wants_help(&bw_cmd_policy, argc, argv))
        return 0;
    return bw_cli_fail(&bw_cmd_policy, "not built yet");
}

const struct bw_cmd bw_cmd_policy = {
    .name = "policy",
    .summary = "check and evaluate policy files",
    .usage = "usage: bulwark policy ...\n",
    .run = run,
};
