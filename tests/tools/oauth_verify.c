/* oauth_verify: a test driver for src/oauth/ (not part of the product binary). It loads a
 * bulwark.yaml, builds the configured OAuth verifier with its real JWKS refresher (fetching
 * through the egress guard), then runs commands read from stdin, one per line, printing one
 * result line each, so tests/integration/mcp_oauth_prm.test.mjs can drive verification and
 * count JWKS fetches against a key server it controls:
 *
 *   wait_keys SERVER TOKEN MS   verify every 20 ms until the answer is not no_keys (or MS pass)
 *   verify SERVER TOKEN         one verification: prints the result name (ok, kid_unknown, ...)
 *   flood SERVER N              N tokens naming random kids (unsigned: the kid is looked up
 *                               first); prints the last result
 *   sleep MS
 *   fetches                     JWKS fetches attempted so far
 *
 * Exits 0 after stdin ends; 2 on misuse, 1 if the verifier cannot be built (the reason on
 * stderr). */
#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "oauth/oauth.h"
#include "util/codec.h"

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *verify(struct bw_oauth *o, const char *server, const char *token) {
    struct bw_oauth_claims c;
    return bw_oauth_result_name(bw_oauth_verify(o, server, token, strlen(token), &c));
}

static const char *flood(struct bw_oauth *o, const char *server, long n) {
    const char *last = "none";
    for (long i = 0; i < n; i++) {
        char hdr[96], hb[160], tok[512];
        unsigned char rnd[8];
        randombytes_buf(rnd, sizeof rnd);
        char kid[17];
        if (bw_hex_encode(rnd, sizeof rnd, kid, sizeof kid) != BW_OK)
            return "internal";
        snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);
        if (bw_b64url_encode((const uint8_t *)hdr, strlen(hdr), hb, sizeof hb) != BW_OK)
            return "internal";
        snprintf(tok, sizeof tok, "%s.eyJzdWIiOiJ4In0.AAAA", hb);
        last = verify(o, server, tok);
    }
    return last;
}

/* The next space-separated word of *p (NULL at the end); ends it with a NUL. */
static const char *word(char **p) {
    while (**p == ' ')
        (*p)++;
    if (!**p)
        return NULL;
    char *start = *p;
    while (**p && **p != ' ')
        (*p)++;
    if (**p)
        *(*p)++ = 0;
    return start;
}

static long num(const char *s) {
    return s ? strtol(s, NULL, 10) : 0;
}

static void run(struct bw_oauth *o) {
    char line[16384];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        char *p = line;
        const char *cmd = word(&p), *a1 = word(&p), *a2 = word(&p), *a3 = word(&p);
        if (!cmd)
            continue;
        if (strcmp(cmd, "verify") == 0 && a2) {
            printf("%s\n", verify(o, a1, a2));
        } else if (strcmp(cmd, "wait_keys") == 0 && a3) {
            const char *r = "no_keys";
            for (long waited = 0; waited <= num(a3); waited += 20) {
                r = verify(o, a1, a2);
                if (strcmp(r, "no_keys") != 0)
                    break;
                sleep_ms(20);
            }
            printf("%s\n", r);
        } else if (strcmp(cmd, "flood") == 0 && a2) {
            printf("%s\n", flood(o, a1, num(a2)));
        } else if (strcmp(cmd, "sleep") == 0 && a1) {
            sleep_ms(num(a1));
            printf("slept\n");
        } else if (strcmp(cmd, "fetches") == 0) {
            printf("%llu\n", (unsigned long long)bw_oauth_fetch_count(o));
        } else {
            printf("usage\n");
        }
        fflush(stdout);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: oauth_verify CONFIG < commands\n");
        return 2;
    }
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    struct bw_config *c = calloc(1, sizeof *c);
    char err[600];
    struct bw_oauth *o = NULL;
    int rc = 1;
    if (!c || bw_config_load(argv[1], c, err, sizeof err) != BW_OK) {
        fprintf(stderr, "oauth_verify: %s\n", c ? err : "out of memory");
        goto out;
    }
    if (bw_oauth_new(c, &o, err, sizeof err) != BW_OK || bw_oauth_start(o) != BW_OK) {
        fprintf(stderr, "oauth_verify: %s\n", err);
        goto out;
    }
    run(o);
    rc = 0;
out:
    bw_oauth_free(o);
    if (c)
        bw_config_cleanup(c);
    free(c);
    curl_global_cleanup();
    return rc;
}
