/* config_metrics.c: the `metrics:` and `otel:` sections (docs/CONFIG.md). */
#include <stdlib.h>
#include <string.h>

#include "config/config_walk.h"
#include "util/text.h"

/* HOST:PORT ("[v6]:port" too); port 0 takes an ephemeral port (logged at start: for tests). */
static bw_err listen_value(struct walk *w, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    char hp[300];
    BW_TRY(bw_cfg_str(w, v, "metrics.listen", hp, sizeof hp));
    char *colon = strrchr(hp, ':');
    if (!colon || colon == hp)
        return bw_cfg_fail(w, v, "metrics.listen: expected HOST:PORT");
    *colon = 0;
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end || colon[1] == 0 || port < 0 || port > 65535)
        return bw_cfg_fail(w, v, "metrics.listen: port must be 0..65535");
    char *host = hp;
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host[n - 1] = 0;
        host++;
    }
    if (!host[0] || strlen(host) >= sizeof c->metrics_listen_host)
        return bw_cfg_fail(w, v, "metrics.listen: bad host");
    memcpy(c->metrics_listen_host, host, strlen(host) + 1);
    c->metrics_listen_port = (int)port;
    return BW_OK;
}

static bw_err metrics_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (strcmp(key, "listen") == 0)
        return listen_value(w, v);
    if (strcmp(key, "allow_remote") == 0)
        return bw_cfg_bool(w, v, "metrics.allow_remote", &c->metrics_allow_remote);
    if (strcmp(key, "refresh_ms") == 0)
        return bw_cfg_int(w, v, "metrics.refresh_ms", 500, 3600000, &c->metrics_refresh_ms);
    return bw_cfg_fail(w, v, "metrics: unknown key '%.64s'", key);
}

static bw_err otel_field(struct walk *w, const char *key, const yaml_node_t *v) {
    struct bw_config *c = w->c;
    if (strcmp(key, "endpoint") == 0) {
        BW_TRY(bw_cfg_str(w, v, "otel.endpoint", c->otel_endpoint, sizeof c->otel_endpoint));
        if (strncmp(c->otel_endpoint, "http://", 7) != 0 &&
            strncmp(c->otel_endpoint, "https://", 8) != 0)
            return bw_cfg_fail(w, v, "otel.endpoint: expected an http:// or https:// URL");
        if (strchr(c->otel_endpoint, '@'))
            return bw_cfg_fail(w, v, "otel.endpoint: credentials in the URL are refused");
        return BW_OK;
    }
    if (strcmp(key, "service_name") == 0) {
        BW_TRY(bw_cfg_str(w, v, "otel.service_name", c->otel_service_name,
                          sizeof c->otel_service_name));
        if (!bw_text_visible(c->otel_service_name, strlen(c->otel_service_name)))
            return bw_cfg_fail(w, v, "otel.service_name: printable ASCII without spaces");
        return BW_OK;
    }
    if (strcmp(key, "timeout_ms") == 0)
        return bw_cfg_int(w, v, "otel.timeout_ms", 50, 30000, &c->otel_timeout_ms);
    if (strcmp(key, "headers_env") == 0) {
        BW_TRY(
            bw_cfg_str(w, v, "otel.headers_env", c->otel_headers_env, sizeof c->otel_headers_env));
        for (const char *p = c->otel_headers_env; *p; p++)
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= '0' && *p <= '9') || *p == '_'))
                return bw_cfg_fail(w, v, "otel.headers_env: an environment variable name");
        if (!c->otel_headers_env[0])
            return bw_cfg_fail(w, v, "otel.headers_env: an environment variable name");
        return BW_OK;
    }
    if (strcmp(key, "queue_max") == 0)
        return bw_cfg_int(w, v, "otel.queue_max", 1, 65536, &c->otel_queue_max);
    return bw_cfg_fail(w, v, "otel: unknown key '%.64s'", key);
}

bw_err bw_cfg_metrics_section(struct walk *w, const char *key, const yaml_node_t *v) {
    if (strcmp(key, "metrics") == 0)
        return bw_cfg_each_pair(w, v, "metrics", metrics_field);
    return bw_cfg_each_pair(w, v, "otel", otel_field);
}
