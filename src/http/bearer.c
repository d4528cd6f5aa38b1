/* bearer.c: Bearer credentials (bearer.h). */
#include "http/bearer.h"

#include <string.h>
#include <strings.h>

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
