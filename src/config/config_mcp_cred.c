/* config_mcp_cred.c: the operator's MCP server credentials (docs/CONFIG.md "mcp"). The config
 * names where the secret is, never the secret: `env:NAME` (an environment variable) or
 * `file:/ABSOLUTE/PATH` (a file with no group/other permission bits, one line). serve reads
 * each into "Bearer <secret>" in locked memory at start; a reference that does not resolve
 * stops the start (fail closed: the gateway would otherwise call the server unauthenticated).
 * No message ever carries the value. */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_walk.h"

#define CRED_MAX 1024 /* bytes of one secret, as a BYOK provider key */

static int env_name_ok(const char *s) {
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

int bw_config_mcp_credential_ref_ok(const char *s) {
    if (strncmp(s, "env:", 4) == 0)
        return strlen(s + 4) <= 128 && env_name_ok(s + 4);
    if (strncmp(s, "file:", 5) != 0 || s[5] != '/')
        return 0;
    for (const char *p = s + 5; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return 0;
    return 1;
}

void bw_config_mcp_credential_free(struct bw_mcp_server_config *s) {
    if (s->credential_auth)
        sodium_free(s->credential_auth); /* wipes */
    s->credential_auth = NULL;
}

/* The secret into buf+7 (after "Bearer "); its length, or -1 with why set. */
static long read_ref(const char *ref, char *buf, const char **why) {
    size_t len = 0;
    if (strncmp(ref, "env:", 4) == 0) {
        const char *v = getenv(ref + 4);
        if (!v || !*v) {
            *why = "the environment variable is not set";
            return -1;
        }
        len = strnlen(v, CRED_MAX + 1);
        if (len <= CRED_MAX)
            memcpy(buf + 7, v, len);
    } else {
        int fd = open(ref + 5, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
            if (fd >= 0)
                close(fd);
            *why = "the file is unreadable, not a regular file, or readable by group/other";
            return -1;
        }
        ssize_t n = read(fd, buf + 7, CRED_MAX + 2);
        close(fd);
        len = n > 0 ? (size_t)n : 0;
        while (len > 0 && len <= CRED_MAX + 1 &&
               (buf[7 + len - 1] == '\n' || buf[7 + len - 1] == '\r'))
            len--;
    }
    for (size_t i = 0; i < len && len <= CRED_MAX; i++)
        if (buf[7 + i] < 0x21 || buf[7 + i] > 0x7e)
            len = CRED_MAX + 1; /* would inject or break a header line */
    if (len == 0 || len > CRED_MAX) {
        *why = "the secret is empty, over 1024 bytes or not printable ASCII without spaces";
        return -1;
    }
    return (long)len;
}

bw_err bw_config_mcp_load_credentials(struct bw_config *c, char *err, size_t err_size) {
    if (sodium_init() < 0) /* idempotent; serve has called it already */
        return BW_E_INTERNAL;
    for (size_t i = 0; i < c->n_mcp_servers; i++) {
        struct bw_mcp_server_config *s = &c->mcp_servers[i];
        bw_config_mcp_credential_free(s);
        if (!s->credential[0])
            continue;
        char *buf = sodium_malloc(CRED_MAX + 16);
        if (!buf)
            return BW_E_NOMEM;
        memcpy(buf, "Bearer ", 7);
        const char *why = "";
        long n = read_ref(s->credential, buf, &why);
        if (n < 0) {
            sodium_free(buf);
            snprintf(err, err_size, "mcp.servers[%s].credential (%.140s): %s", s->name,
                     s->credential, why);
            return BW_E_INVALID;
        }
        buf[7 + n] = 0;
        s->credential_auth = buf;
    }
    return BW_OK;
}
