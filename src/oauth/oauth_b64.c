/* oauth_b64.c: strict base64url for JWS segments and JWK members. */
#include "oauth/oauth_internal.h"

static int b64url_value(char ch) {
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-')
        return 62;
    if (ch == '_')
        return 63;
    return -1;
}

long bw_oauth_b64url_decode(const char *in, size_t len, uint8_t *out, size_t out_size) {
    /* A remainder of 1 is never a valid encoding; 2 and 3 carry 1 and 2 bytes. */
    if (len % 4 == 1 || len / 4 * 3 + 3 > out_size)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-zero leftover bits: a second spelling of the same bytes */
        return -1;
    return (long)o;
}
