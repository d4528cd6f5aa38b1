/* bearer.c: Bearer credentials (bearer.h). */
#include "http/bearer.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* RFC 9110 11.2 token68 characters, without the trailing "=" padding. */
static int token68_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

bw_err bw_http_bearer_parse(const char *value, size_t max_token, const char **token,
                            size_t *token_len) {
    static const char scheme[] = "Bearer ";
    const size_t scheme_len = sizeof scheme - 1;
    if (!value)
        return BW_E_UNAUTH;
    /* strnlen bounds the read: one byte over the longest accepted value tells "too long" */
    size_t n = strnlen(value, scheme_len + max_token + 1);
    if (n <= scheme_len || n > scheme_len + max_token ||
        strncasecmp(value, scheme, scheme_len) != 0)
        return BW_E_UNAUTH;
    const char *t = value + scheme_len;
    size_t len = n - scheme_len, i = 0;
    while (i < len && token68_char(t[i]))
        i++;
    if (i == 0)
        return BW_E_UNAUTH;
    while (i < len && t[i] == '=')
        i++;
    if (i != len)
        return BW_E_UNAUTH; /* a second SP, junk after the token, or a character outside it */
    *token = t;
    *token_len = len;
    return BW_OK;
}

static const char secret_why[] = "the secret is empty, too long or not visible ASCII";

bw_err bw_http_bearer_build(const unsigned char *secret, size_t len, size_t max, char **out) {
    *out = NULL;
    if (len == 0 || len > max)
        return BW_E_INVALID;
    for (size_t i = 0; i < len; i++)
        if (secret[i] < 0x21 || secret[i] > 0x7e)
            return BW_E_INVALID; /* would break the header line or inject another */
    char *a = sodium_malloc(len + 8);
    if (!a)
        return BW_E_NOMEM;
    memcpy(a, "Bearer ", 7);
    memcpy(a + 7, secret, len);
    a[7 + len] = 0;
    *out = a;
    return BW_OK;
}

bw_err bw_http_bearer_from_env(const char *name, size_t max, char **out, const char **why) {
    *out = NULL;
    const char *v = getenv(name);
    if (!v || !*v) {
        *why = "the environment variable is not set";
        return BW_E_NOT_FOUND;
    }
    bw_err e = bw_http_bearer_build((const unsigned char *)v, strnlen(v, max + 1), max, out);
    if (e == BW_E_INVALID)
        *why = secret_why;
    return e;
}

bw_err bw_http_bearer_from_file(const char *path, size_t max, char **out, const char **why) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
        if (fd >= 0)
            close(fd);
        *why = "the file is unreadable, not a regular file, or readable by group/other";
        return BW_E_INVALID;
    }
    unsigned char *buf = sodium_malloc(max + 2); /* one byte over max tells "too long" */
    if (!buf) {
        close(fd);
        return BW_E_NOMEM;
    }
    ssize_t n = read(fd, buf, max + 2);
    close(fd);
    size_t len = n > 0 ? (size_t)n : 0;
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    bw_err e = bw_http_bearer_build(buf, len, max, out);
    sodium_free(buf); /* wipes */
    if (e == BW_E_INVALID)
        *why = secret_why;
    return e;
}
