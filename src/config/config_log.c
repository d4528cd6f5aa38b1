/* config_log.c: the `log:` section (docs/CONFIG.md "log"). */
#include <string.h>

#include "config/config_walk.h"
#include "util/log.h"

static bw_err level_field(struct walk *w, const yaml_node_t *v) {
    static const char *const names[] = {"debug", "info", "warn", "error"};
    const char *s = bw_cfg_scalar(v);
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            w->c->log_level = 1 + i; /* names[] follows enum bw_log_level */
            return BW_OK;
        }
    return bw_cfg_fail(w, v, "log.level: expected error, warn, info or debug");
}

bw_err bw_config_log_field(struct walk *w, const char *key, const yaml_node_t *v) {
    if (strcmp(key, "level") == 0)
        return level_field(w, v);
    if (strcmp(key, "format") == 0) {
        const char *s = bw_cfg_scalar(v);
        if (s && (strcmp(s, "json") == 0 || strcmp(s, "text") == 0)) {
            w->c->log_text = strcmp(s, "text") == 0;
            return BW_OK;
        }
        return bw_cfg_fail(w, v, "log.format: expected json or text");
    }
    if (strcmp(key, "requests") == 0) {
        int on = 1;
        BW_TRY(bw_cfg_bool(w, v, "log.requests", &on));
        w->c->log_no_requests = !on;
        return BW_OK;
    }
    if (strcmp(key, "file") == 0) {
        BW_TRY(bw_cfg_str(w, v, "log.file", w->c->log_file, sizeof w->c->log_file));
        if (!w->c->log_file[0])
            return bw_cfg_fail(w, v, "log.file: must not be empty (leave it out for stderr)");
        return BW_OK;
    }
    return bw_cfg_fail(w, v, "log: unknown key '%.64s'", key);
}
