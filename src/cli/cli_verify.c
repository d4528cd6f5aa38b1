/* PLACEHOLDER, being replaced in this session: bulwark verify. */
#include "cli/cli.h"

static int run(int argc, char **argv) {
    if (bw_cli_wants_help(&bw_cmd_verify, argc, argv))
        return 0;
    return bw_cli_fail(&bw_cmd_verify, "not built yet");
}

const struct bw_cmd bw_cmd_verify = {
    .name = "verify",
    .summary = "verify an evidence pack offline",
    .usage = "usage: bulwark verify ...\n",
    .run = run,
};
