/* cli.h: the subcommand table (after tmux's cmd_entry). One file per subcommand: cli_<name>.c
 * defines `const struct bw_cmd bw_cmd_<name>`, and main.c lists it.
 *
 * Conventions every subcommand keeps: `--help` prints usage to stdout and exits 0; misuse prints
 * one line "bulwark <cmd>: <why>" plus the usage line to stderr and exits 2; runtime failure
 * prints one line and exits 1. Secrets are never printed except the one-time keys of init. */
#ifndef BW_CLI_CLI_H
#define BW_CLI_CLI_H

#include "util/err.h"

struct bw_cmd {
    const char *name;
    const char *summary;               /* one line for `bulwark --help` */
    const char *usage;                 /* full usage text for `bulwark <name> --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
};

/* Misuse: prints "bulwark <cmd>: <msg>" and the usage to stderr; returns 2 for `return`. */
int bw_cli_usage_error(const struct bw_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3))) BW_MUST_CHECK;
/* Runtime failure: prints "bulwark <cmd>: <msg>" to stderr; returns 1. */
int bw_cli_fail(const struct bw_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3))) BW_MUST_CHECK;
/* 1 if argv contains --help or -h (then prints usage to stdout). */
int bw_cli_wants_help(const struct bw_cmd *cmd, int argc, char **argv) BW_MUST_CHECK;
/* Parses "HOST:PORT" (IPv4 literal or name; port 1..65535, or 0 when allow_zero). host gets a
 * copy (size host_size). Returns 0 on success, -1 on malformed input. */
int bw_cli_parse_hostport(const char *s, char *host, unsigned host_size, int *port,
                          int allow_zero) BW_MUST_CHECK;

extern const struct bw_cmd bw_cmd_init;
extern const struct bw_cmd bw_cmd_serve;
extern const struct bw_cmd bw_cmd_mock_upstream;
extern const struct bw_cmd bw_cmd_mock_mcp;
extern const struct bw_cmd bw_cmd_policy;
extern const struct bw_cmd bw_cmd_egress;
extern const struct bw_cmd bw_cmd_export;
extern const struct bw_cmd bw_cmd_verify;
extern const struct bw_cmd bw_cmd_version;
extern const struct bw_cmd bw_cmd_org;
extern const struct bw_cmd bw_cmd_key;
extern const struct bw_cmd bw_cmd_agent;
extern const struct bw_cmd bw_cmd_vault;

struct bw_gateway;
struct bw_server_app;
/* cli_routes.c: the server callbacks for gw with the composition root's routing table. */
void bw_cli_gateway_app(struct bw_gateway *gw, struct bw_server_app *app);

#endif
