/* mcp_pin.c: tool pinning on the gateway's paths (mcp_pin.h): every tools/list result checked
 * against the org's pins, every tools/call's pin looked up before the policy's verdict stands.
 * The pins of an (org, server) are cached for BW_MCP_PIN_TTL_MS; the store is read on a miss and
 * written only for a new or changed definition (and a last-seen refresh at most once a minute),
 * on the event worker's own store handle. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect/outbox.h"
#include "ledger/ledger.h"
#include "mcp/mcp_internal.h"
#include "mcp/mcp_pin.h"
#include "reason/reasons.h"
#include "store/mcp_pins.h"
#include "util/codec.h"
#include "util/log.h"
#include "util/time.h"

#define PIN_CACHE_SETS 128 /* (org, server) pin sets cached; the oldest is evicted */
/* read per set: the cap, plus what concurrent first sights may add past it */
#define PIN_LOAD_MAX (BW_MCP_PIN_MAX_PER_SERVER + BW_MCP_PIN_MAX_WRITES)

struct pin_entry {
    char tool[65];
    enum bw_mcp_pin_state state;
    int has_pinned, has_pending;
    uint8_t pinned[32], pending[32];
    int64_t last_seen_ms;
};

struct pin_set {
    int used;
    char org_id[48];
    char server[BW_MCP_SERVER_NAME_MAX_BYTES];
    int64_t loaded_ms; /* 0: invalidated */
    size_t n;
    int truncated;          /* the store holds more than PIN_LOAD_MAX: an absent tool is unknown */
    struct pin_entry *pins; /* sorted by tool (strcmp) */
};

/* Shared by every event worker and the API (approvals invalidate): protected by cache_mu, held
 * for lookups, installs and invalidations only, never across a store call. */
static struct pin_set cache[PIN_CACHE_SETS];
/* Guards cache and cache_gen. */
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
/* Bumped by every invalidation, under cache_mu: a load that started before one is used for its
 * own request but not cached (it may predate the change). */
static uint64_t cache_gen;

int bw_mcp_pin_tool_name_ok(const char *name, size_t len) {
    if (len == 0 || len > BW_MCP_PIN_TOOL_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return 0;
    }
    return 1;
}

void bw_mcp_pin_invalidate(const char *org_id, const char *server) {
    pthread_mutex_lock(&cache_mu);
    cache_gen++;
    for (size_t i = 0; i < PIN_CACHE_SETS; i++)
        if (cache[i].used && strcmp(cache[i].org_id, org_id) == 0 &&
            (!server || strcmp(cache[i].server, server) == 0))
            cache[i].loaded_ms = 0;
    pthread_mutex_unlock(&cache_mu);
}

/* ---- loading a set ---- */

struct loading {
    struct pin_entry *pins;
    size_t n;
};

static int load_row(void *arg, const struct bw_mcp_pin *p) {
    struct loading *l = arg;
    if (l->n >= PIN_LOAD_MAX)
        return 1;
    if (strlen(p->tool) >= sizeof l->pins[0].tool)
        return 0; /* longer names are never listed nor called through this gateway */
    struct pin_entry *e = &l->pins[l->n++];
    snprintf(e->tool, sizeof e->tool, "%s", p->tool);
    e->state = p->state;
    e->has_pinned = p->has_pinned;
    e->has_pending = p->has_pending;
    memcpy(e->pinned, p->pinned_sha256, 32);
    memcpy(e->pending, p->pending_sha256, 32);
    e->last_seen_ms = p->last_seen_ms;
    return 0;
}

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const struct pin_entry *)a)->tool, ((const struct pin_entry *)b)->tool);
}

/* A snapshot of one (org, server)'s pins for one request (owned by the caller). */
struct pin_view {
    struct pin_entry *pins;
    size_t n;
    int truncated;
};

static void view_cleanup(struct pin_view *v) {
    free(v->pins);
    memset(v, 0, sizeof *v);
}

static int find_set(const char *org_id, const char *server) {
    for (int i = 0; i < PIN_CACHE_SETS; i++)
        if (cache[i].used && strcmp(cache[i].org_id, org_id) == 0 &&
            strcmp(cache[i].server, server) == 0)
            return i;
    return -1;
}

/* Copies a fresh cached set into *v: 1, or 0 (absent or stale). Under cache_mu. */
static int copy_fresh(const char *org_id, const char *server, int64_t now, struct pin_view *v) {
    int i = find_set(org_id, server);
    if (i < 0 || !cache[i].loaded_ms || now - cache[i].loaded_ms >= BW_MCP_PIN_TTL_MS)
        return 0;
    v->pins = malloc((cache[i].n ? cache[i].n : 1) * sizeof *v->pins);
    if (!v->pins)
        return 0;
    if (cache[i].n)
        memcpy(v->pins, cache[i].pins, cache[i].n * sizeof *v->pins);
    v->n = cache[i].n;
    v->truncated = cache[i].truncated;
    return 1;
}

/* Installs a copy of v as the cached set (unless an invalidation happened since gen). */
static void install(const char *org_id, const char *server, int64_t now, uint64_t gen,
                    const struct pin_view *v) {
    struct pin_entry *copy = malloc((v->n ? v->n : 1) * sizeof *copy);
    if (!copy)
        return;
    if (v->n)
        memcpy(copy, v->pins, v->n * sizeof *copy);
    struct pin_entry *old = NULL;
    pthread_mutex_lock(&cache_mu);
    if (gen != cache_gen) {
        pthread_mutex_unlock(&cache_mu);
        free(copy);
        return;
    }
    int i = find_set(org_id, server);
    for (int j = 0; i < 0 && j < PIN_CACHE_SETS; j++)
        if (!cache[j].used)
            i = j;
    if (i < 0) { /* full: evict the set loaded longest ago */
        i = 0;
        for (int j = 1; j < PIN_CACHE_SETS; j++)
            if (cache[j].loaded_ms < cache[i].loaded_ms)
                i = j;
    }
    old = cache[i].pins;
    cache[i].used = 1;
    snprintf(cache[i].org_id, sizeof cache[i].org_id, "%s", org_id);
    snprintf(cache[i].server, sizeof cache[i].server, "%s", server);
    cache[i].loaded_ms = now;
    cache[i].n = v->n;
    cache[i].truncated = v->truncated;
    cache[i].pins = copy;
    pthread_mutex_unlock(&cache_mu);
    free(old);
}

/* The pins of (org, server) for this request: from the cache, else from the store (and cached).
 * BW_OK, or the store's error (the caller fails closed). */
static bw_err pin_view_get(struct bw_mcp_call *c, struct pin_view *v) {
    memset(v, 0, sizeof *v);
    const char *org = c->key.org_id, *server = c->server.name;
    int64_t now = bw_now_ms();
    pthread_mutex_lock(&cache_mu);
    int hit = copy_fresh(org, server, now, v);
    uint64_t gen = cache_gen;
    pthread_mutex_unlock(&cache_mu);
    if (hit)
        return BW_OK;
    struct loading l = {calloc(PIN_LOAD_MAX, sizeof *l.pins), 0};
    if (!l.pins)
        return BW_E_NOMEM;
    struct bw_mcp_pin_filter f = {server, NULL, NULL, NULL};
    bw_err e = bw_store_mcp_pins_each(c->w->store, org, &f, 0, PIN_LOAD_MAX, load_row, &l);
    if (e != BW_OK) {
        free(l.pins);
        return e;
    }
    qsort(l.pins, l.n, sizeof *l.pins, entry_cmp);
    v->pins = l.pins;
    v->n = l.n;
    v->truncated = l.n >= PIN_LOAD_MAX;
    install(org, server, now, gen, v);
    return BW_OK;
}

static const struct pin_entry *view_find(const struct pin_view *v, const char *tool) {
    struct pin_entry key = {0}; /* the comparator reads only tool */
    if (strlen(tool) >= sizeof key.tool)
        return NULL; /* never pinned (and never listed or called) */
    snprintf(key.tool, sizeof key.tool, "%s", tool);
    return v->n ? bsearch(&key, v->pins, v->n, sizeof *v->pins, entry_cmp) : NULL;
}

/* ---- the event: a receipt and, for a change or a pending tool, an outbox event ---- */

static void on_pin_receipt(void *arg, bw_err err, uint64_t index, const uint8_t leaf[32]) {
    (void)index;
    (void)leaf;
    struct bw_gateway *gw = arg;
    if (err != BW_OK)
        bw_error("mcp: tool pin receipt not recorded: %s", bw_err_str(err));
    atomic_fetch_sub(&gw->inflight, 1);
}

/* action: "mcp.pin.first" (auto pinned), "mcp.pin.pending" (approve mode, first sight),
 * "mcp.pin.changed". The receipt's subject is the definition's hash; model the server, rule the
 * tool, principal the key whose tools/list answer carried it. */
static void pin_event(struct bw_mcp_call *c, const char *action, const char *reason,
                      const char *tool, const uint8_t sha[32], const uint8_t *pinned) {
    struct bw_gateway *gw = c->w->gw;
    struct bw_receipt r;
    bw_receipt_init(&r, BW_RECEIPT_ADMIN);
    r.time_ms = bw_now_ms();
    snprintf(r.org_id, sizeof r.org_id, "%s", c->key.org_id);
    snprintf(r.principal, sizeof r.principal, "%s", c->key.id);
    snprintf(r.agent, sizeof r.agent, "%s", c->key.agent);
    snprintf(r.route, sizeof r.route, "%s", action);
    snprintf(r.decision, sizeof r.decision, "apply");
    snprintf(r.reason, sizeof r.reason, "%s", reason);
    snprintf(r.rule, sizeof r.rule, "%s", tool);
    snprintf(r.model, sizeof r.model, "%s", c->server.name);
    memcpy(r.request_sha256, sha, 32);
    atomic_fetch_add(&gw->inflight, 1);
    bw_ledger_append(gw->ledger, &r, c->w->base, on_pin_receipt, gw);
    if (strcmp(action, "mcp.pin.first") == 0)
        return;
    /* Admin-visible: delivered to the org's connections (webhook, Slack, ...). The event id is
     * derived from what happened, so every replica and retry queues it once. */
    char hex[65], pinned_hex[65] = "", id[64], text[256];
    uint8_t idh[32];
    struct bw_sha256_stream h;
    if (bw_hex_encode(sha, 32, hex, sizeof hex) != BW_OK ||
        (pinned && bw_hex_encode(pinned, 32, pinned_hex, sizeof pinned_hex) != BW_OK) ||
        bw_sha256_stream_init(&h) != BW_OK)
        return;
    bw_sha256_stream_update(&h, c->server.name, strlen(c->server.name) + 1);
    bw_sha256_stream_update(&h, tool, strlen(tool) + 1);
    bw_sha256_stream_update(&h, sha, 32);
    if (pinned) /* a transition: the same new definition against another pinned one is news */
        bw_sha256_stream_update(&h, pinned, 32);
    bw_sha256_stream_final(&h, idh);
    bw_sha256_stream_cleanup(&h);
    char idhex[33];
    if (bw_hex_encode(idh, 16, idhex, sizeof idhex) != BW_OK)
        return;
    int changed = strcmp(action, "mcp.pin.changed") == 0;
    snprintf(id, sizeof id, "mcppin_%s", idhex);
    snprintf(text, sizeof text, "MCP tool %s/%s %s; hidden and denied until an admin approves it",
             c->server.name, tool, changed ? "changed its definition" : "waits for approval");
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:o}", "server", c->server.name, "tool", tool,
                             "state", changed ? "changed" : "pending", "pending_sha256", hex,
                             "pinned_sha256", pinned ? json_string(pinned_hex) : json_null());
    if (!data)
        return;
    if (bw_outbox_emit_as(gw->outbox, c->w->store, c->key.org_id, id,
                          changed ? "mcp.tool_changed" : "mcp.tool_pending", text, data) != BW_OK)
        bw_error("mcp: tool pin event not queued");
    json_decref(data);
}

/* ---- tools/list ---- */

struct seen_tool {
    size_t index; /* in the tools array */
    const char *name;
    uint8_t sha[32];
    char *def; /* canonical text (owned) */
    int keep;
    int write;  /* 1: new or changed (to record); -1: a duplicate name */
    int unsure; /* a concurrent writer recorded it first: judged again from the store */
    const struct pin_entry *pin;
};

/* The canonical text and hash of one tool object. 0, or -1 (not canonicalizable: hidden). */
static int hash_tool(const json_t *tool, struct seen_tool *t) {
    struct bw_buf b;
    bw_buf_init(&b, BW_MCP_MAX_RESULT);
    if (bw_mcp_pin_canon(tool, &b) != BW_OK || bw_buf_append(&b, "", 1) != BW_OK) {
        bw_buf_cleanup(&b);
        return -1;
    }
    bw_sha256(b.ptr, b.len - 1, t->sha);
    t->def = (char *)b.ptr; /* taken: NUL-terminated above */
    return 0;
}

/* What a tool's pin says about the hash seen: keep (pinned at it), a write (new, changed, or a
 * last-seen refresh), or hide. */
static void judge(struct seen_tool *t, const struct pin_view *v, size_t *n_new, int64_t now,
                  int *refresh) {
    const struct pin_entry *p = t->pin = view_find(v, t->name);
    *refresh = 0;
    if (!p) {
        /* unknown: pinned (auto) or pending (approve) by the write; never past the caps */
        if (v->truncated || v->n + *n_new >= BW_MCP_PIN_MAX_PER_SERVER)
            return;
        (*n_new)++;
        t->write = 1;
        return;
    }
    if (p->state == BW_PIN_PINNED && memcmp(p->pinned, t->sha, 32) == 0) {
        t->keep = 1;
        *refresh = now - p->last_seen_ms >= BW_MCP_PIN_SEEN_EVERY_MS;
        return;
    }
    /* changed or pending: hidden; recorded only when this hash is not already known */
    int known = (p->has_pinned && memcmp(p->pinned, t->sha, 32) == 0) ||
                (p->has_pending && memcmp(p->pending, t->sha, 32) == 0);
    t->write = !known;
}

/* Removes the tools not kept (from the end, so indexes stay valid). */
static int remove_hidden(json_t *tools, struct seen_tool *seen, size_t n_seen, size_t n_tools,
                         int hide_all) {
    int removed = 0;
    char *keep = calloc(n_tools ? n_tools : 1, 1);
    if (!keep)
        return json_array_clear(tools) == 0 ? (int)n_tools : -1;
    for (size_t i = 0; i < n_seen && !hide_all; i++)
        keep[seen[i].index] = (char)seen[i].keep;
    for (size_t i = n_tools; i-- > 0;) {
        if (keep[i])
            continue;
        if (json_array_remove(tools, i) != 0) {
            free(keep);
            return -1;
        }
        removed++;
    }
    free(keep);
    return removed;
}

/* Tools another worker recorded between our read and our write (two lists of one first sight
 * at once): the store now says what they are; shown only if pinned at exactly this hash. */
static void rejudge(struct bw_mcp_call *c, struct seen_tool *seen, size_t n_seen) {
    struct pin_view v;
    if (pin_view_get(c, &v) != BW_OK)
        return; /* stay hidden */
    for (size_t i = 0; i < n_seen; i++) {
        if (!seen[i].unsure)
            continue;
        const struct pin_entry *p = view_find(&v, seen[i].name);
        seen[i].keep = p && p->state == BW_PIN_PINNED && memcmp(p->pinned, seen[i].sha, 32) == 0;
    }
    view_cleanup(&v);
}

/* The writes of one answer, then what they mean for each tool; receipts and events for what was
 * recorded. -1 when the store failed (every tool hidden). */
static int record(struct bw_mcp_call *c, struct seen_tool *seen, size_t n_seen, size_t n_writes,
                  const int *refresh) {
    int approve = c->w->gw->cfg->mcp_pin_approve;
    struct bw_mcp_pin_seen *w = calloc(n_writes ? n_writes : 1, sizeof *w);
    size_t *of = calloc(n_writes ? n_writes : 1, sizeof *of);
    int rc = 0;
    if (!w || !of) {
        rc = -1;
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < n_seen; i++) {
        if (!seen[i].write && !refresh[i])
            continue;
        w[k].tool = seen[i].name;
        memcpy(w[k].sha256, seen[i].sha, 32);
        w[k].def = strlen(seen[i].def) <= BW_MCP_PIN_DEF_MAX ? seen[i].def : "";
        w[k].refresh_only = !seen[i].write;
        of[k++] = i;
    }
    if (bw_store_mcp_pins_record(c->w->store, c->key.org_id, c->server.name, approve, w, k,
                                 bw_now_ms()) != BW_OK) {
        bw_error("mcp: tool pins could not be recorded: hiding the tools of this answer");
        rc = -1;
        goto out;
    }
    int unsure = 0;
    for (size_t j = 0; j < k; j++) {
        struct seen_tool *t = &seen[of[j]];
        t->unsure = !w[j].refresh_only && !w[j].recorded;
        unsure |= t->unsure;
        if (w[j].refresh_only || !w[j].recorded)
            continue;
        if (w[j].recorded == 1 && !approve) {
            t->keep = 1; /* first sight, auto: pinned at this hash */
            pin_event(c, "mcp.pin.first", BW_R_MCP_TOOL_PINNED, t->name, t->sha, NULL);
        } else if (w[j].recorded == 1 || (t->pin && t->pin->state == BW_PIN_PENDING)) {
            pin_event(c, "mcp.pin.pending", BW_R_TOOL_NOT_APPROVED, t->name, t->sha, NULL);
        } else {
            bw_warn("mcp: tool %s of server %s changed its definition: hidden until approved",
                    t->name, c->server.name);
            pin_event(c, "mcp.pin.changed", BW_R_TOOL_DEFINITION_CHANGED, t->name, t->sha,
                      t->pin && t->pin->has_pinned ? t->pin->pinned : NULL);
        }
    }
    if (k) /* the cached set is older than what was just written: reread it next time */
        bw_mcp_pin_invalidate(c->key.org_id, c->server.name);
    if (unsure)
        rejudge(c, seen, n_seen);
out:
    free(w);
    free(of);
    return rc;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp((*(const struct seen_tool *const *)a)->name,
                  (*(const struct seen_tool *const *)b)->name);
}

/* Marks (write = -1) every tool whose name appears more than once in the result: a client may
 * take either definition. Sorted, so a hostile list of many tools costs n log n. 0 or -1. */
static int mark_duplicates(struct seen_tool *seen, size_t n) {
    if (n < 2)
        return 0;
    struct seen_tool **by = malloc(n * sizeof *by);
    if (!by)
        return -1;
    for (size_t i = 0; i < n; i++)
        by[i] = &seen[i];
    qsort(by, n, sizeof *by, name_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(by[i - 1]->name, by[i]->name) == 0)
            by[i - 1]->write = by[i]->write = -1;
    free(by);
    return 0;
}

int bw_mcp_pin_tools(struct bw_mcp_call *c, json_t *result) {
    json_t *tools = json_object_get(result, "tools");
    if (!json_is_object(result) || !json_is_array(tools))
        return -1;
    size_t n_tools = json_array_size(tools), n_seen = 0, n_new = 0, n_writes = 0;
    struct seen_tool *seen = calloc(n_tools ? n_tools : 1, sizeof *seen);
    int *refresh = calloc(n_tools ? n_tools : 1, sizeof *refresh);
    struct pin_view v = {0};
    int hide_all = !seen || !refresh;
    if (!hide_all && pin_view_get(c, &v) != BW_OK) {
        bw_error("mcp: tool pins unavailable: hiding the tools of this answer");
        hide_all = 1;
    }
    for (size_t i = 0; i < n_tools && !hide_all; i++) {
        json_t *t = json_array_get(tools, i);
        json_t *name = json_object_get(t, "name");
        /* names the gateway can list and call (the filter drops the others) */
        if (!json_is_object(t) || !json_is_string(name) ||
            !bw_policy_tool_name_ok(json_string_value(name), json_string_length(name)))
            continue;
        struct seen_tool *s = &seen[n_seen];
        s->index = i;
        s->name = json_string_value(name);
        if (hash_tool(t, s) == 0)
            n_seen++;
    }
    if (!hide_all && mark_duplicates(seen, n_seen) != 0)
        hide_all = 1;
    int64_t now = bw_now_ms();
    for (size_t i = 0; i < n_seen && !hide_all; i++) {
        struct seen_tool *s = &seen[i];
        if (s->write == -1) { /* a name twice: neither definition is trusted */
            s->write = 0;
            continue;
        }
        judge(s, &v, &n_new, now, &refresh[i]);
        if (s->write && n_writes >= BW_MCP_PIN_MAX_WRITES)
            s->write = 0; /* bounded work per answer: recorded by a later list */
        n_writes += s->write || refresh[i];
    }
    if (!hide_all && n_writes && record(c, seen, n_seen, n_writes, refresh) != 0)
        hide_all = 1;
    int removed = remove_hidden(tools, seen, hide_all ? 0 : n_seen, n_tools, hide_all);
    for (size_t i = 0; seen && i < n_seen; i++)
        free(seen[i].def);
    free(seen);
    free(refresh);
    view_cleanup(&v);
    return removed;
}

/* ---- tools/call ---- */

static int deny(struct bw_policy_decision *d, const char *reason, int status) {
    d->effect = BW_POLICY_DENY;
    snprintf(d->reason, sizeof d->reason, "%s", reason);
    d->rule[0] = 0; /* not the policy's verdict: no rule, no layer (EVIDENCE.md) */
    d->layer = NULL;
    d->http_status = status;
    return -1;
}

/* The state of one tool from a fresh cached set, without copying the set: 1 (found or known
 * absent: *st 0), or 0 (no fresh set). */
static int cached_state(const char *org_id, const char *server, const char *tool,
                        enum bw_mcp_pin_state *st, int *truncated) {
    int64_t now = bw_now_ms();
    pthread_mutex_lock(&cache_mu);
    int i = find_set(org_id, server);
    int fresh = i >= 0 && cache[i].loaded_ms && now - cache[i].loaded_ms < BW_MCP_PIN_TTL_MS;
    if (fresh) {
        struct pin_view v = {cache[i].pins, cache[i].n, cache[i].truncated};
        const struct pin_entry *p = view_find(&v, tool);
        *st = p ? p->state : 0;
        *truncated = v.truncated;
    }
    pthread_mutex_unlock(&cache_mu);
    return fresh;
}

int bw_mcp_pin_check_call(struct bw_mcp_call *c, struct bw_policy_decision *d) {
    enum bw_mcp_pin_state st = 0;
    int truncated = 0;
    if (!cached_state(c->key.org_id, c->server.name, c->msg.name, &st, &truncated)) {
        struct pin_view v;
        if (pin_view_get(c, &v) != BW_OK) {
            bw_error("mcp: tool pins unavailable: denying the call");
            return deny(d, BW_R_STORE_UNAVAILABLE, 503);
        }
        const struct pin_entry *p = view_find(&v, c->msg.name);
        st = p ? p->state : 0;
        truncated = v.truncated;
        view_cleanup(&v);
    }
    switch (st) {
    case BW_PIN_PINNED:
        return 0;
    case BW_PIN_CHANGED:
        return deny(d, BW_R_TOOL_DEFINITION_CHANGED, 403);
    case BW_PIN_PENDING:
        return deny(d, BW_R_TOOL_NOT_APPROVED, 403);
    default:
        /* never seen: nothing is pinned to compare with. approve mode (or a set too large to
         * know) refuses; auto mode leaves the decision to the policy. */
        if (c->w->gw->cfg->mcp_pin_approve || truncated)
            return deny(d, BW_R_TOOL_NOT_APPROVED, 403);
        return 0;
    }
}
