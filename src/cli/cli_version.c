#include <stdio.h>

#include "cli/cli.h"
#include "util/version.h"

static int run(int argc, char **argv) {
    if (bw_cli_wants_help(&bw_cmd_version, argc, argv))
        return 0;
    if (argc > 1)
        return bw_cli_usage_error(&bw_cmd_version, "unexpected argument '%.64s'", argv[1]);
    printf("bulwark %s\n", BW_VERSION);
    return 0;
}

const struct bw_cmd bw_cmd_version = {
    .name = "version",
    .summary = "print the version",
    .usage = "usage: bulwark version\n",
    .run = run,
};
