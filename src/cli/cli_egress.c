/* PLACEHOLDER, being replaced in this session: bulwark egress. */
#include "cli/cli.h"

static int run(int argc, char **argv) {
    if (bw_cli_wants_help(&bw_cmd_egress, argc, argv))
        return 0;
    return bw_cli_fail(&bw_cmd_egress, "not built yet");
}

const struct bw_cmd bw_cmd_egress = {
    .name = "egress",
    .summary = "check a URL against the egress guard",
    .usage = "usage: bulwark egress ...\n",
    .run = run,
};
