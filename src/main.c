/* bulwark: a fail-closed security and governance gateway for AI agents. Dispatches to the
 * subcommand table (src/cli/). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct bw_cmd *const commands[] = {
    &bw_cmd_init,          &bw_cmd_serve,    &bw_cmd_org,     &bw_cmd_key,    &bw_cmd_agent,
    &bw_cmd_vault,         &bw_cmd_policy,   &bw_cmd_egress,  &bw_cmd_export, &bw_cmd_verify,
    &bw_cmd_mock_upstream, &bw_cmd_mock_mcp, &bw_cmd_version,
};

static void usage(FILE *f) {
    fprintf(f, "usage: bulwark <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-14s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\nRun `bulwark <command> --help` for a command's options.\n");
}

int main(int argc, char **argv) {
    /* A peer that closes a socket must not kill us; a file over RLIMIT_FSIZE must fail the
     * write (EFBIG: fail closed), not kill the process. */
    (void)signal(SIGPIPE, SIG_IGN); /* SIG_ERR only for an invalid signal number */
    (void)signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return bw_cmd_version.run(1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i]->name) == 0)
            return commands[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "bulwark: unknown command '%.64s'\n", argv[1]);
    usage(stderr);
    return 2;
}
