/* log_redact.c: the filter between a free-text log message and the sink (log.h). It does not
 * try to understand the message: it masks every shape a credential takes in this product and at
 * its providers, so that a call site that formats the wrong thing still cannot emit it. What has
 * no recognisable shape (a prompt, an arbitrary secret) is kept out by the call sites, which log
 * ids, codes and sizes only (docs/SECURITY.md "Logs"). */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

#define MASK "[REDACTED]"
/* A run of opaque characters (base64url, hex: '/' and '.' end a run, so paths and host names
 * stay readable) longer than this is masked whole: sealed records (>= 125 bytes, so >= 168 in
 * base64), long keys. SHA-256 hex (64) and ids stay readable. */
#define MAX_OPAQUE_RUN 64

/* Prefixes of bearer credentials: Bulwark API keys, widget keys, confirmation tokens; OpenAI
 * and Anthropic style keys (sk-, sk-ant-), Stripe (sk_, rk_, whsec_), GitHub, Notion, Slack. */
static const char *const token_prefixes[] = {
    "bwk_", "bwp_", "bwc_", "sk-",         "sk_",     "rk_",  "whsec_", "ghp_",  "gho_",
    "ghs_", "ghu_", "ghr_", "github_pat_", "secret_", "ntn_", "xoxb-",  "xoxp-", "AKIA",
};

/* Names whose value (after ':' or '=') is masked up to the end of the value; in lower case, each
 * beginning with a letter (secret_name_at's first-byte filter relies on both). */
static const char *const secret_names[] = {
    "authorization", "proxy-authorization",
    "x-api-key",     "api-key",
    "api_key",       "apikey",
    "password",      "passwd",
    "secret",        "token",
    "cookie",        "set-cookie",
};

struct out {
    char *p;
    size_t n, cap; /* cap: usable bytes, NUL excluded */
};

static void put(struct out *o, const char *s, size_t n) {
    for (size_t i = 0; i < n && o->n < o->cap; i++)
        o->p[o->n++] = s[i];
}

static void puts_(struct out *o, const char *s) {
    put(o, s, strlen(s));
}

static int is_token_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '+' || c == '/' || c == '=' || c == '~';
}

static int is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static size_t opaque_run(const char *s) {
    size_t n = 0;
    while (is_alnum(s[n]) || s[n] == '_' || s[n] == '-' || s[n] == '+' || s[n] == '=')
        n++;
    return n;
}

static size_t token_run(const char *s) {
    size_t n = 0;
    while (is_token_char(s[n]))
        n++;
    return n;
}

/* A value ends at a quote, a separator or the end of the line. */
static size_t value_run(const char *s) {
    size_t n = 0;
    while (s[n] && s[n] != '"' && s[n] != '\'' && s[n] != ',' && s[n] != ';' && s[n] != '}' &&
           s[n] != '\r' && s[n] != '\n' && s[n] != '&')
        n++;
    return n;
}

/* "name" [quote] [spaces] (':' | '=') [spaces] [quote] value: masks the value. */
static size_t secret_name_at(const char *s, struct out *o) {
    for (size_t k = 0; k < sizeof secret_names / sizeof secret_names[0]; k++) {
        /* names begin with a letter: c | 0x20 equals its lower case only for that letter, in
         * either case, so this skips exactly the names strncasecmp would refuse at byte 0 (the
         * common case, at every word of every line) */
        if ((s[0] | 0x20) != secret_names[k][0])
            continue;
        size_t n = strlen(secret_names[k]);
        if (strncasecmp(s, secret_names[k], n) != 0 || is_alnum(s[n]))
            continue;
        size_t i = n;
        while (s[i] == '"' || s[i] == '\'' || s[i] == ' ')
            i++;
        if (s[i] != ':' && s[i] != '=')
            continue;
        i++;
        while (s[i] == ' ' || s[i] == '"' || s[i] == '\'')
            i++;
        put(o, s, i);
        puts_(o, MASK);
        return i + value_run(s + i);
    }
    return 0;
}

/* "Bearer"/"Basic" followed by a credential. */
static size_t scheme_at(const char *s, struct out *o) {
    static const char *const schemes[] = {"bearer ", "basic "};
    if ((s[0] | 0x20) != 'b') /* both schemes begin with b */
        return 0;
    for (size_t k = 0; k < 2; k++) {
        size_t n = strlen(schemes[k]);
        if (strncasecmp(s, schemes[k], n) != 0)
            continue;
        size_t i = n;
        while (s[i] == ' ')
            i++;
        if (token_run(s + i) < 8) /* "a basic check", "Bearer token": prose, not a credential */
            continue;
        put(o, s, n);
        puts_(o, MASK);
        return i + token_run(s + i);
    }
    return 0;
}

static size_t prefix_at(const char *s, struct out *o) {
    for (size_t k = 0; k < sizeof token_prefixes / sizeof token_prefixes[0]; k++) {
        if (s[0] != token_prefixes[k][0]) /* what strncmp would refuse at byte 0, cheaply */
            continue;
        size_t n = strlen(token_prefixes[k]);
        if (strncmp(s, token_prefixes[k], n) != 0)
            continue;
        put(o, s, n);
        puts_(o, MASK);
        return n + token_run(s + n);
    }
    return 0;
}

static int url_stop(char c) {
    return c == 0 || c == ' ' || c == '"' || c == '\'' || c == '<' || c == '>' || c == ')' ||
           c == '\t' || c == '\r' || c == '\n';
}

/* At "://": the authority loses its userinfo, the rest loses its query and fragment. */
static size_t url_at(const char *s, struct out *o) {
    size_t i = 3, at = 0, end;
    for (end = i; !url_stop(s[end]) && s[end] != '/' && s[end] != '?' && s[end] != '#'; end++)
        if (s[end] == '@')
            at = end;
    puts_(o, "://");
    if (at) {
        puts_(o, MASK "@");
        i = at + 1;
    }
    put(o, s + i, end - i);
    i = end;
    while (!url_stop(s[i]) && s[i] != '?' && s[i] != '#')
        o->n < o->cap ? (void)(o->p[o->n++] = s[i++]) : (void)i++;
    if (s[i] == '?' || s[i] == '#') {
        put(o, s + i, 1);
        puts_(o, MASK);
        while (!url_stop(s[i]))
            i++;
    }
    return i;
}

size_t bw_log_redact(const char *msg, char *out, size_t out_size) {
    static const char cut[] = "...[cut]";
    if (out_size < 16) {
        if (out_size)
            out[0] = 0;
        return 0;
    }
    size_t limit = out_size - 1 < BW_LOG_MAX_MESSAGE ? out_size - 1 : BW_LOG_MAX_MESSAGE;
    struct out o = {out, 0, limit - (sizeof cut - 1)};
    const char *s = msg ? msg : "";
    size_t i = 0;
    while (s[i] && o.n < o.cap) {
        int boundary = i == 0 || !is_alnum(s[i - 1]);
        size_t used = 0;
        if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/')
            used = url_at(s + i, &o);
        else if (boundary && (used = secret_name_at(s + i, &o)) != 0)
            ;
        else if (boundary && (used = scheme_at(s + i, &o)) != 0)
            ;
        else if (boundary && (used = prefix_at(s + i, &o)) != 0)
            ;
        else if (boundary && opaque_run(s + i) > MAX_OPAQUE_RUN) {
            puts_(&o, MASK);
            used = opaque_run(s + i);
        }
        if (used) {
            i += used;
            continue;
        }
        unsigned char c = (unsigned char)s[i++];
        /* control bytes would let a message forge a line; non-ASCII is not needed in a log */
        char safe = c < 0x20 || c >= 0x7f ? '?' : (char)c;
        put(&o, &safe, 1);
    }
    if (s[i]) {
        o.cap = limit;
        puts_(&o, cut);
    }
    out[o.n] = 0;
    return o.n;
}
