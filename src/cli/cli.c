#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void vline(const struct bw_cmd *cmd, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void vline(const struct bw_cmd *cmd, const char *fmt, va_list ap) {
    fprintf(stderr, "bulwark %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int bw_cli_usage_error(const struct bw_cmd *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline(cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s", cmd->usage);
    return 2;
}

int bw_cli_fail(const struct bw_cmd *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline(cmd, fmt, ap);
    va_end(ap);
    return 1;
}

int bw_cli_wants_help(const struct bw_cmd *cmd, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(cmd->usage, stdout);
            return 1;
        }
    }
    return 0;
}

int bw_cli_parse_hostport(const char *s, char *host, unsigned host_size, int *port,
                          int allow_zero) {
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= host_size)
        return -1;
    const char *p = colon + 1;
    if (*p == 0 || strlen(p) > 5)
        return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return -1;
    long v = strtol(p, NULL, 10);
    if (v > 65535 || (v == 0 && !allow_zero))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    *port = (int)v;
    return 0;
}
