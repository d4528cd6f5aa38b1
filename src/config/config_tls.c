/* config_tls.c: the listen_tls section and allow_plain_http (docs/CONFIG.md, "TLS").
 *
 *   listen_tls:
 *     address: 0.0.0.0:8443     # IPv4 HOST:PORT (port 0 = any free, for tests)
 *     cert_file: tls/cert.pem   # PEM chain, leaf first; relative to the config's folder
 *     key_file: tls/key.pem     # PEM private key, unencrypted, mode 0600 (or 0640 group-owned)
 *   allow_plain_http: false     # a plain `listen` on a non-loopback address needs true
 *
 * Only the shape is checked here; the files themselves are read by http/tls.c when the gateway
 * starts (and on SIGHUP), so a config can be parsed where the key is not readable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_walk.h"

/* A relative path is relative to the config file's folder (w->name), as for `policy`. */
static bw_err tls_path(struct walk *w, const yaml_node_t *v, const char *key, char *out,
                       size_t size) {
    char raw[4096];
    BW_TRY(bw_cfg_str(w, v, key, raw, sizeof raw));
    if (!raw[0])
        return bw_cfg_fail(w, v, "%s: must not be empty", key);
    const char *slash = strrchr(w->name, '/');
    int n;
    if (raw[0] == '/' || !slash)
        n = snprintf(out, size, "%s", raw);
    else
        n = snprintf(out, size, "%.*s/%s", (int)(slash - w->name), w->name, raw);
    if (n < 0 || (size_t)n >= size)
        return bw_cfg_fail(w, v, "%s: path too long", key);
    return BW_OK;
}

static bw_err address_field(struct walk *w, const yaml_node_t *v) {
    char hp[128];
    BW_TRY(bw_cfg_str(w, v, "listen_tls.address", hp, sizeof hp));
    char *colon = strrchr(hp, ':');
    if (!colon || colon == hp)
        return bw_cfg_fail(w, v, "listen_tls.address: expected HOST:PORT");
    *colon = 0;
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end || colon[1] == 0 || port < 0 || port > 65535)
        return bw_cfg_fail(w, v, "listen_tls.address: port must be 0..65535");
    if (strlen(hp) >= sizeof w->c->tls_host)
        return bw_cfg_fail(w, v, "listen_tls.address: host too long");
    memcpy(w->c->tls_host, hp, strlen(hp) + 1);
    w->c->tls_port = (int)port;
    return BW_OK;
}

static bw_err listen_tls_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (strcmp(key, "address") == 0)
        return address_field(w, v);
    if (strcmp(key, "cert_file") == 0)
        return tls_path(w, v, "listen_tls.cert_file", c->tls_cert_file, sizeof c->tls_cert_file);
    if (strcmp(key, "key_file") == 0)
        return tls_path(w, v, "listen_tls.key_file", c->tls_key_file, sizeof c->tls_key_file);
    return bw_cfg_fail(w, v, "listen_tls: unknown key '%.64s'", key);
}

bw_err bw_cfg_tls_field(struct walk *w, const char *key, const yaml_node_t *v) {
    if (strcmp(key, "allow_plain_http") == 0)
        return bw_cfg_bool(w, v, "allow_plain_http", &w->c->allow_plain_http);
    BW_TRY(bw_cfg_each_pair(w, v, "listen_tls", listen_tls_field));
    if (!w->c->tls_host[0] || !w->c->tls_cert_file[0] || !w->c->tls_key_file[0])
        return bw_cfg_fail(w, v, "listen_tls: address, cert_file and key_file are all required");
    return BW_OK;
}

bw_err bw_cfg_tls_check(struct walk *w, const yaml_node_t *root) {
    if (!w->c->listen_host[0] && !w->c->tls_cert_file[0])
        return bw_cfg_fail(w, root, "listen: off needs listen_tls (no listener is configured)");
    return BW_OK;
}
