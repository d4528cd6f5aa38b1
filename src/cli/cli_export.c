/* PLACEHOLDER, being replaced in this session: bulwark export. */
#include "cli/cli.h"

static int run(int argc, char **argv) {
    if (bw_cli_wants_help(&bw_cmd_export, argc, argv))
        return 0;
    return bw_cli_fail(&bw_cmd_export, "not built yet");
}

const struct bw_cmd bw_cmd_export = {
    .name = "export",
    .summary = "export an evidence pack",
    .usage = "usage: bulwark export ...\n",
    .run = run,
};
