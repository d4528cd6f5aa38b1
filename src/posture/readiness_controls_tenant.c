/* readiness_controls_tenant.c: the org-scoped controls, widgets and keys, for every org (each
 * read under its own tenant scope, through the refresher's store handle) and platform-wide
 * (readiness_internal.h; docs/API.md "Security readiness"). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "posture/readiness_internal.h"
#include "store/identity.h"
#include "store/store.h"

#define LISTED_MAX 32 /* ids listed per finding */

struct org_ids {
    char (*ids)[BW_ID_SIZE];
    size_t n;
    size_t skipped; /* orgs beyond BW_READY_MAX_ORGS */
};

static int collect_org(void *arg, const char *id, const char *name) {
    (void)name;
    struct org_ids *o = arg;
    if (o->n >= BW_READY_MAX_ORGS) {
        o->skipped++;
        return 0;
    }
    snprintf(o->ids[o->n++], BW_ID_SIZE, "%s", id);
    return 0;
}

/* ---- widgets ---- */

struct widget_scan {
    size_t enabled, no_origins;
    json_t *lacking; /* agent ids without origins */
};

static int widget_row(void *arg, const struct bw_agent_record *a) {
    struct widget_scan *w = arg;
    if (!a->widget_enabled)
        return 0;
    w->enabled++;
    if (a->widget_origins[strspn(a->widget_origins, " ")] == 0) {
        w->no_origins++;
        if (json_array_size(w->lacking) < LISTED_MAX)
            json_array_append_new(w->lacking, json_string(a->id));
    }
    return 0;
}

static void org_widgets(const struct bw_ready_ctx *c, const char *org_id, struct bw_ready_result *r,
                        size_t *enabled, size_t *bad) {
    struct widget_scan w = {0, 0, json_array()};
    if (bw_store_agent_list(c->store, org_id, widget_row, &w) != BW_OK) {
        json_decref(w.lacking);
        bw_ready_store_failed(c);
        bw_ready_set(r, BW_READY_FAIL, "the org's agents cannot be read");
        return;
    }
    int rate = c->env->cfg->widget_requests.per_minute > 0;
    json_t *v = bw_ready_values(r);
    json_object_set_new(v, "enabled", json_integer((json_int_t)w.enabled));
    json_object_set_new(v, "without_origins", w.lacking);
    json_object_set_new(v, "rate_limit_per_minute",
                        json_integer(c->env->cfg->widget_requests.per_minute));
    *enabled += w.enabled;
    if (w.no_origins || (w.enabled && !rate)) {
        (*bad)++;
        bw_ready_set(r, BW_READY_WARN, "%zu of %zu enabled widget(s) without origins%s",
                     w.no_origins, w.enabled, rate ? "" : "; the widget rate limit is off");
    } else {
        bw_ready_set(r, BW_READY_PASS,
                     "%zu enabled widget(s), each with origins and a rate "
                     "limit",
                     w.enabled);
    }
}

/* ---- keys ---- */

struct key_scan {
    int64_t now_ms;
    size_t live, unused, no_expiry;
    json_t *unused_ids, *no_expiry_ids;
};

static int key_row(void *arg, const struct bw_key_record *k) {
    struct key_scan *s = arg;
    if (k->revoked_ms || (k->expires_ms && k->expires_ms <= s->now_ms))
        return 0; /* not usable: neither finding applies */
    s->live++;
    int64_t last = k->last_used_ms ? k->last_used_ms : k->created_ms;
    if (s->now_ms - last > BW_READY_UNUSED_MS) {
        s->unused++;
        if (json_array_size(s->unused_ids) < LISTED_MAX)
            json_array_append_new(s->unused_ids, json_string(k->id));
    }
    if (k->expires_ms == 0) {
        s->no_expiry++;
        if (json_array_size(s->no_expiry_ids) < LISTED_MAX)
            json_array_append_new(s->no_expiry_ids, json_string(k->id));
    }
    return 0;
}

static void key_scan_init(struct key_scan *s, int64_t now_ms) {
    memset(s, 0, sizeof *s);
    s->now_ms = now_ms;
    s->unused_ids = json_array();
    s->no_expiry_ids = json_array();
}

static void key_scan_cleanup(struct key_scan *s) {
    json_decref(s->unused_ids);
    json_decref(s->no_expiry_ids);
}

/* An org's keys: unused for 90 days warns (org keys without expiry are counted, not warned:
 * that finding is about operator keys). */
static void org_keys(const struct bw_ready_ctx *c, const char *org_id, struct bw_ready_result *r,
                     size_t *unused_total) {
    struct key_scan s;
    key_scan_init(&s, c->now_ms);
    if (bw_store_key_list(c->store, org_id, 0, key_row, &s) != BW_OK) {
        key_scan_cleanup(&s);
        bw_ready_store_failed(c);
        bw_ready_set(r, BW_READY_FAIL, "the org's keys cannot be read");
        return;
    }
    json_t *v = bw_ready_values(r);
    json_object_set_new(v, "live", json_integer((json_int_t)s.live));
    json_object_set_new(v, "unused_90_days", json_incref(s.unused_ids));
    json_object_set_new(v, "without_expiry", json_integer((json_int_t)s.no_expiry));
    *unused_total += s.unused;
    if (s.unused)
        bw_ready_set(r, BW_READY_WARN, "%zu key(s) unused for 90 days", s.unused);
    else
        bw_ready_set(r, BW_READY_PASS, "%zu live key(s), all used within 90 days", s.live);
    key_scan_cleanup(&s);
}

/* ---- platform-wide ---- */

static void breakdown_add(json_t *list, const char *org_id, const struct bw_ready_result *r) {
    if (r->status == BW_READY_PASS || json_array_size(list) >= LISTED_MAX)
        return;
    json_array_append_new(list, json_pack("{s:s, s:s}", "org_id", org_id, "status",
                                          bw_readiness_level_name(r->status)));
}

static void platform_keys(const struct bw_ready_ctx *c, struct bw_ready_result *keys,
                          size_t unused_org, size_t failed, json_t *orgs_bad) {
    struct key_scan s;
    key_scan_init(&s, c->now_ms);
    bw_err e = bw_store_operator_key_list(c->store, 0, key_row, &s);
    if (e != BW_OK)
        bw_ready_store_failed(c);
    json_t *v = bw_ready_values(keys);
    json_object_set_new(v, "operator_keys_live", json_integer((json_int_t)s.live));
    json_object_set_new(v, "operator_keys_without_expiry", json_incref(s.no_expiry_ids));
    json_object_set_new(v, "operator_keys_unused_90_days", json_incref(s.unused_ids));
    json_object_set_new(v, "org_keys_unused_90_days", json_integer((json_int_t)unused_org));
    json_object_set_new(v, "orgs_not_passing", orgs_bad);
    if (e != BW_OK || failed)
        bw_ready_set(keys, BW_READY_FAIL,
                     "the keys of %zu org(s) or the operator keys cannot be "
                     "read",
                     failed + (e != BW_OK));
    else if (s.no_expiry || s.unused || unused_org)
        bw_ready_set(keys, BW_READY_WARN,
                     "%zu operator key(s) without expiry, %zu key(s) "
                     "unused for 90 days",
                     s.no_expiry, s.unused + unused_org);
    else
        bw_ready_set(keys, BW_READY_PASS,
                     "every operator key expires; every key used within 90 "
                     "days");
    key_scan_cleanup(&s);
}

static int org_cmp(const void *a, const void *b) {
    return strcmp(((const struct bw_ready_org *)a)->org_id,
                  ((const struct bw_ready_org *)b)->org_id);
}

/* Org policies that allow everything make the policy control fail: the org's calls are then
 * decided by "allow" (within the platform's global layer). One that cannot be read fails too. */
static void org_policies_verdict(struct bw_ready_result *policy, json_t *allow_all,
                                 size_t unreadable) {
    json_t *v = bw_ready_values(policy);
    size_t n = json_array_size(allow_all);
    json_object_set_new(v, "org_policies_allowing_all", allow_all);
    json_object_set_new(v, "org_policies_unreadable", json_integer((json_int_t)unreadable));
    if (policy->status == BW_READY_FAIL)
        return; /* the platform policy's own failure stands */
    if (unreadable)
        bw_ready_set(policy, BW_READY_FAIL, "%zu org policy(ies) cannot be read", unreadable);
    else if (n)
        bw_ready_set(policy, BW_READY_FAIL,
                     "%zu org policy(ies) allow every request: not "
                     "default deny",
                     n);
}

void bw_ready_tenants(const struct bw_ready_ctx *c, struct bw_ready_result *widgets,
                      struct bw_ready_result *keys, struct bw_ready_result *policy,
                      struct bw_ready_org **orgs, size_t *n_orgs) {
    *orgs = NULL;
    *n_orgs = 0;
    struct org_ids ids = {calloc(BW_READY_MAX_ORGS, BW_ID_SIZE), 0, 0};
    if (!c->store || !ids.ids || bw_store_orgs_each(c->store, collect_org, &ids) != BW_OK) {
        free(ids.ids);
        bw_ready_store_failed(c);
        bw_ready_set(widgets, BW_READY_FAIL, "the orgs cannot be read");
        bw_ready_set(keys, BW_READY_FAIL, "the orgs cannot be read");
        bw_ready_set(policy, BW_READY_FAIL, "the orgs' policies cannot be read");
        return;
    }
    struct bw_ready_org *o = calloc(ids.n ? ids.n : 1, sizeof *o);
    if (!o) {
        free(ids.ids);
        bw_ready_set(policy, BW_READY_FAIL, "out of memory");
        return; /* widgets and keys stay fail */
    }
    size_t enabled = 0, widgets_bad = 0, unused = 0, wfail = 0, kfail = 0;
    json_t *wlist = json_array(), *klist = json_array(), *plist = json_array();
    size_t punreadable = ids.skipped;
    for (size_t i = 0; i < ids.n; i++) {
        long allow_all = bw_ready_org_policy_allow_all(c, ids.ids[i]);
        if (allow_all < 0)
            punreadable++;
        else if (allow_all > 0 && json_array_size(plist) < LISTED_MAX)
            json_array_append_new(plist, json_string(ids.ids[i]));
        snprintf(o[i].org_id, sizeof o[i].org_id, "%s", ids.ids[i]);
        bw_ready_set(&o[i].widgets, BW_READY_FAIL, "the check did not complete");
        bw_ready_set(&o[i].keys, BW_READY_FAIL, "the check did not complete");
        org_widgets(c, o[i].org_id, &o[i].widgets, &enabled, &widgets_bad);
        org_keys(c, o[i].org_id, &o[i].keys, &unused);
        wfail += o[i].widgets.status == BW_READY_FAIL;
        kfail += o[i].keys.status == BW_READY_FAIL;
        breakdown_add(wlist, o[i].org_id, &o[i].widgets);
        breakdown_add(klist, o[i].org_id, &o[i].keys);
    }
    free(ids.ids);
    org_policies_verdict(policy, plist, punreadable);
    qsort(o, ids.n, sizeof *o, org_cmp);
    *orgs = o;
    *n_orgs = ids.n;
    json_t *wv = bw_ready_values(widgets);
    json_object_set_new(wv, "orgs", json_integer((json_int_t)ids.n));
    json_object_set_new(wv, "orgs_not_checked", json_integer((json_int_t)ids.skipped));
    json_object_set_new(wv, "enabled", json_integer((json_int_t)enabled));
    json_object_set_new(wv, "orgs_not_passing", wlist);
    /* Orgs beyond the bound are not checked: fail closed rather than report them as fine. */
    if (wfail || ids.skipped)
        bw_ready_set(widgets, BW_READY_FAIL, "%zu org(s) could not be checked",
                     wfail + ids.skipped);
    else if (widgets_bad)
        bw_ready_set(widgets, BW_READY_WARN,
                     "%zu org(s) have a widget without origins or rate "
                     "limit",
                     widgets_bad);
    else
        bw_ready_set(widgets, BW_READY_PASS,
                     "%zu enabled widget(s), each with origins and a "
                     "rate limit",
                     enabled);
    platform_keys(c, keys, unused, kfail + ids.skipped, klist);
}
