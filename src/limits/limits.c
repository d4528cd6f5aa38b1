/* limits.c: token buckets, in-flight counters and monthly budgets (limits.h).
 *
 * Three sharded hash tables. A shard is a mutex, a fixed array of chain heads and a count; an
 * entry is found by (hash, key). Budget scopes are sharded by the org alone, so an org scope and
 * its agents' scopes share one lock and a reservation over both is one critical section. */
#include "limits/limits.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reason/reasons.h"

#define NSHARDS 64
#define NHEADS 256
#define DEFAULT_MAX_KEYS 65536
#define SCALE 60000000LL /* bucket units per token: microseconds per minute */

struct entry {
    struct entry *next;
    uint64_t hash;
    char key[2 * BW_LIMITS_KEY_MAX + 2]; /* budgets: org '\x1f' agent */
    /* bucket */
    struct bw_limits_rate rate;
    int64_t level; /* in 1/SCALE tokens */
    int64_t last_us;
    /* in-flight */
    int64_t count;
    /* budget */
    struct bw_limits_budget_state b;
    /* leased mode (several replicas): budget scopes hold b.held_* granted from the shared pool;
     * buckets hold `level` leased from the shared bucket until expires_us */
    int64_t last_grant_tokens, last_grant_cost;
    int64_t dry_until;    /* the shared pool or bucket said no: budgets ms (wall), buckets us */
    int64_t dry_retry_ms; /* buckets: the Retry-After the shared bucket gave */
    int64_t expires_us;   /* buckets: the holding is void after this */
    int prefetch_pending;
    int left_known; /* budgets: the pool's remainder after the last grant */
    int64_t left_tokens, left_cost;
};

struct shard {
    pthread_mutex_t mu;
    struct entry *heads[NHEADS];
    size_t n;
};

struct table {
    struct shard shards[NSHARDS];
    size_t per_shard_max;
};

struct bw_limits {
    struct table buckets, inflight, budgets;
    int leased; /* set once before use (bw_limits_set_leased) */
};

struct bw_limits_reservation {
    char org[BW_LIMITS_KEY_MAX];
    char agent[BW_LIMITS_KEY_MAX];
    int agent_scope; /* the agent scope was charged too */
    int32_t month;
    int64_t tokens, cost;
    int has_price;
    struct bw_limits_price price;
};

/* FNV-1a 64 */
static uint64_t hash_str(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static bw_err table_init(struct table *t, size_t max_keys) {
    memset(t, 0, sizeof *t);
    t->per_shard_max = (max_keys + NSHARDS - 1) / NSHARDS;
    for (size_t i = 0; i < NSHARDS; i++) {
        if (pthread_mutex_init(&t->shards[i].mu, NULL) != 0) {
            for (size_t j = 0; j < i; j++)
                pthread_mutex_destroy(&t->shards[j].mu);
            return BW_E_INTERNAL;
        }
    }
    return BW_OK;
}

static void table_cleanup(struct table *t) {
    for (size_t i = 0; i < NSHARDS; i++) {
        struct shard *s = &t->shards[i];
        for (size_t h = 0; h < NHEADS; h++) {
            struct entry *e = s->heads[h];
            while (e) {
                struct entry *next = e->next;
                free(e);
                e = next;
            }
        }
        pthread_mutex_destroy(&s->mu);
    }
}

static struct shard *shard_of(struct table *t, uint64_t h) {
    return &t->shards[h % NSHARDS];
}

/* Caller holds the shard's lock. */
static struct entry *find(struct shard *s, uint64_t h, const char *key) {
    for (struct entry *e = s->heads[(h / NSHARDS) % NHEADS]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* Caller holds the lock and has checked the count. */
static struct entry *insert(struct shard *s, uint64_t h, const char *key) {
    struct entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->hash = h;
    memcpy(e->key, key, strlen(key) + 1);
    struct entry **head = &s->heads[(h / NSHARDS) % NHEADS];
    e->next = *head;
    *head = e;
    s->n++;
    return e;
}

static void unlink_entry(struct shard *s, struct entry *victim) {
    for (struct entry **p = &s->heads[(victim->hash / NSHARDS) % NHEADS]; *p; p = &(*p)->next) {
        if (*p == victim) {
            *p = victim->next;
            free(victim);
            s->n--;
            return;
        }
    }
}

static int key_ok(const char *k) {
    return k && k[0] && strnlen(k, BW_LIMITS_KEY_MAX) < BW_LIMITS_KEY_MAX;
}

bw_err bw_limits_new(const struct bw_limits_opts *opts, struct bw_limits **out) {
    size_t max_keys = opts && opts->max_keys ? opts->max_keys : DEFAULT_MAX_KEYS;
    struct bw_limits *l = calloc(1, sizeof *l);
    if (!l)
        return BW_E_NOMEM;
    if (table_init(&l->buckets, max_keys) != BW_OK) {
        free(l);
        return BW_E_INTERNAL;
    }
    if (table_init(&l->inflight, max_keys) != BW_OK) {
        table_cleanup(&l->buckets);
        free(l);
        return BW_E_INTERNAL;
    }
    if (table_init(&l->budgets, max_keys) != BW_OK) {
        table_cleanup(&l->buckets);
        table_cleanup(&l->inflight);
        free(l);
        return BW_E_INTERNAL;
    }
    *out = l;
    return BW_OK;
}

void bw_limits_free(struct bw_limits *l) {
    if (!l)
        return;
    table_cleanup(&l->buckets);
    table_cleanup(&l->inflight);
    table_cleanup(&l->budgets);
    free(l);
}

/* ---- token buckets ---- */

static int rate_ok(const struct bw_limits_rate *r) {
    return r && r->rate_per_min >= 1 && r->rate_per_min <= BW_LIMITS_MAX_RATE && r->burst >= 1 &&
           r->burst <= BW_LIMITS_MAX_RATE;
}

/* Brings a bucket to now_us. Overflow-free: level <= burst*SCALE <= 6e16, and elapsed*rate is
 * only computed when it is below the room left plus one rate. */
static void refill(struct entry *e, const struct bw_limits_rate *rate, int64_t now_us) {
    int64_t cap = rate->burst * SCALE;
    if (e->rate.rate_per_min != rate->rate_per_min || e->rate.burst != rate->burst)
        e->rate = *rate; /* a changed spec applies from now; the level is capped below */
    if (now_us > e->last_us) {
        int64_t elapsed = now_us - e->last_us;
        int64_t room = cap > e->level ? cap - e->level : 0;
        if (elapsed >= room / rate->rate_per_min + 1)
            e->level = cap;
        else
            e->level += elapsed * rate->rate_per_min;
        e->last_us = now_us;
    }
    if (e->level > cap)
        e->level = cap;
}

/* Drops buckets that are full as of now: an absent bucket is a full one. Caller holds the lock. */
static void evict_full(struct shard *s, int64_t now_us) {
    for (size_t h = 0; h < NHEADS; h++) {
        struct entry *e = s->heads[h];
        while (e) {
            struct entry *next = e->next;
            refill(e, &e->rate, now_us);
            if (e->level >= e->rate.burst * SCALE)
                unlink_entry(s, e);
            e = next;
        }
    }
}

bw_err bw_limits_take(struct bw_limits *l, const char *key, const struct bw_limits_rate *rate,
                      int64_t n, int64_t now_us, int64_t *retry_after_ms) {
    BW_ENSURE(key_ok(key) && rate_ok(rate) && n >= 1 && n <= BW_LIMITS_MAX_RATE, BW_E_INVALID);
    if (n > rate->burst) {
        *retry_after_ms = -1;
        return BW_E_LIMIT;
    }
    uint64_t h = hash_str(key, strlen(key));
    struct shard *s = shard_of(&l->buckets, h);
    bw_err result = BW_OK;
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, h, key);
    if (!e) {
        if (s->n >= l->buckets.per_shard_max)
            evict_full(s, now_us);
        BW_GOTO_IF(s->n >= l->buckets.per_shard_max, BW_E_UNAVAILABLE);
        e = insert(s, h, key);
        BW_GOTO_IF(!e, BW_E_NOMEM);
        e->rate = *rate;
        e->level = rate->burst * SCALE;
        e->last_us = now_us;
    }
    refill(e, rate, now_us);
    int64_t need = n * SCALE;
    if (e->level >= need) {
        e->level -= need;
    } else {
        int64_t wait_us = (need - e->level + rate->rate_per_min - 1) / rate->rate_per_min;
        int64_t ms = (wait_us + 999) / 1000;
        *retry_after_ms = ms < 1 ? 1 : ms;
        result = BW_E_LIMIT;
    }
out:
    pthread_mutex_unlock(&s->mu);
    return result;
}

void bw_limits_refund(struct bw_limits *l, const char *key, const struct bw_limits_rate *rate,
                      int64_t n, int64_t now_us) {
    if (!key_ok(key) || !rate_ok(rate) || n < 1 || n > BW_LIMITS_MAX_RATE)
        return;
    uint64_t h = hash_str(key, strlen(key));
    struct shard *s = shard_of(&l->buckets, h);
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, h, key);
    if (e && l->leased) {
        /* back into the holding while it is valid; an expired holding is gone (the shared
         * bucket refills by time, so dropping units never over-admits) */
        int64_t cap = rate->burst * SCALE;
        if (now_us <= e->expires_us)
            e->level = e->level + n * SCALE > cap ? cap : e->level + n * SCALE;
    } else if (e) {
        refill(e, rate, now_us);
        int64_t cap = rate->burst * SCALE;
        e->level = e->level + n * SCALE > cap ? cap : e->level + n * SCALE;
    }
    pthread_mutex_unlock(&s->mu);
}

/* ---- in-flight ---- */

bw_err bw_limits_inflight_acquire(struct bw_limits *l, const char *key, int64_t max) {
    BW_ENSURE(key_ok(key) && max >= 1, BW_E_INVALID);
    uint64_t h = hash_str(key, strlen(key));
    struct shard *s = shard_of(&l->inflight, h);
    bw_err result = BW_OK;
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, h, key);
    if (!e) {
        BW_GOTO_IF(s->n >= l->inflight.per_shard_max, BW_E_UNAVAILABLE);
        e = insert(s, h, key);
        BW_GOTO_IF(!e, BW_E_NOMEM);
    }
    if (e->count >= max)
        result = BW_E_LIMIT;
    else
        e->count++;
out:
    pthread_mutex_unlock(&s->mu);
    return result;
}

void bw_limits_inflight_release(struct bw_limits *l, const char *key) {
    if (!key_ok(key))
        return;
    uint64_t h = hash_str(key, strlen(key));
    struct shard *s = shard_of(&l->inflight, h);
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, h, key);
    if (e && --e->count <= 0)
        unlink_entry(s, e); /* counters at zero hold no state */
    pthread_mutex_unlock(&s->mu);
}

int64_t bw_limits_inflight_count(struct bw_limits *l, const char *key) {
    if (!key_ok(key))
        return 0;
    uint64_t h = hash_str(key, strlen(key));
    struct shard *s = shard_of(&l->inflight, h);
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, h, key);
    int64_t n = e ? e->count : 0;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- budgets ---- */

int32_t bw_limits_month_of(int64_t unix_ms) {
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return 0;
    return (int32_t)((tm.tm_year + 1900) * 12 + tm.tm_mon);
}

int64_t bw_limits_estimate_prompt_tokens(size_t bytes) {
    size_t t = bytes / 4 + (bytes % 4 != 0);
    if (t < 1)
        t = 1;
    return t > (size_t)BW_LIMITS_MAX_TOKENS ? BW_LIMITS_MAX_TOKENS + 1 : (int64_t)t;
}

int64_t bw_limits_cost(const struct bw_limits_price *p, int64_t prompt, int64_t completion) {
    if (!p)
        return 0;
    /* 128-bit: tokens <= 1e8 and prices <= 1e10 keep this far below 2^127 whatever callers do */
    __int128 x = (__int128)prompt * p->prompt_per_1m + (__int128)completion * p->completion_per_1m;
    if (x <= 0)
        return 0;
    __int128 c = (x + 999999) / 1000000;
    return c > INT64_MAX ? INT64_MAX : (int64_t)c;
}

/* Budget key: org '\x1f' agent (both validated: no 0x1f can appear inside, keys are printable) */
static int scope_key(const char *org, const char *agent, char *out, size_t out_size) {
    size_t no = strlen(org), na = agent ? strlen(agent) : 0;
    if (no + 1 + na + 1 > out_size)
        return -1;
    memcpy(out, org, no);
    out[no] = 0x1f;
    if (na)
        memcpy(out + no + 1, agent, na);
    out[no + 1 + na] = 0;
    return 0;
}

static int name_ok(const char *s, int may_be_empty) {
    if (!s)
        return may_be_empty;
    size_t n = strnlen(s, BW_LIMITS_KEY_MAX);
    if (n >= BW_LIMITS_KEY_MAX || (n == 0 && !may_be_empty))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return 0;
    return 1;
}

static int limit_ok(int64_t v) {
    return v == BW_LIMITS_UNLIMITED || (v >= 0 && v <= BW_LIMITS_MAX_BUDGET);
}

/* Caller holds the shard lock. Moves a scope into month m if it is behind. */
static void roll(struct entry *e, int32_t m) {
    if (e->b.month < m) {
        e->b.month = m;
        e->b.spent_tokens = e->b.spent_cost_micros = 0;
        e->b.reserved_tokens = e->b.reserved_cost_micros = 0;
        e->b.held_tokens = e->b.held_cost_micros = 0; /* leases are per month */
        e->last_grant_tokens = e->last_grant_cost = 0;
        e->dry_until = 0;
        e->prefetch_pending = 0;
        e->left_known = 0;
    }
}

/* Finds or creates a scope. Caller holds the lock. */
static bw_err scope_get(struct bw_limits *l, struct shard *s, uint64_t h, const char *key,
                        int create, struct entry **out) {
    struct entry *e = find(s, h, key);
    if (!e) {
        if (!create)
            return BW_E_NOT_FOUND;
        if (s->n >= l->budgets.per_shard_max)
            return BW_E_UNAVAILABLE;
        e = insert(s, h, key);
        if (!e)
            return BW_E_NOMEM;
        e->b.max_tokens = BW_LIMITS_UNLIMITED;
        e->b.max_cost_micros = BW_LIMITS_UNLIMITED;
    }
    *out = e;
    return BW_OK;
}

/* Finds a budget scope under its org's lock: calls fn with the entry (NULL if none). */
static bw_err with_scope(struct bw_limits *l, const char *org, const char *agent, int create,
                         void (*fn)(struct entry *e, void *arg), void *arg) {
    BW_ENSURE(name_ok(org, 0) && name_ok(agent, 1), BW_E_INVALID);
    char key[sizeof((struct entry *)0)->key];
    BW_ENSURE(scope_key(org, agent, key, sizeof key) == 0, BW_E_INVALID);
    struct shard *s = shard_of(&l->budgets, hash_str(org, strlen(org)));
    struct entry *e = NULL;
    pthread_mutex_lock(&s->mu);
    bw_err result = scope_get(l, s, hash_str(key, strlen(key)), key, create, &e);
    fn(result == BW_OK ? e : NULL, arg);
    pthread_mutex_unlock(&s->mu);
    return result;
}

struct set_args {
    int64_t max_tokens, max_cost_micros;
};

static void do_set(struct entry *e, void *arg) {
    const struct set_args *a = arg;
    if (!e)
        return;
    if (e->b.max_tokens != a->max_tokens || e->b.max_cost_micros != a->max_cost_micros)
        e->dry_until = 0; /* a changed limit may refill the pool: ask again */
    e->b.max_tokens = a->max_tokens;
    e->b.max_cost_micros = a->max_cost_micros;
}

bw_err bw_limits_budget_set(struct bw_limits *l, const char *org, const char *agent,
                            int64_t max_tokens, int64_t max_cost_micros) {
    BW_ENSURE(limit_ok(max_tokens) && limit_ok(max_cost_micros), BW_E_INVALID);
    struct set_args a = {max_tokens, max_cost_micros};
    return with_scope(l, org, agent, 1, do_set, &a);
}

struct spent_args {
    int32_t month;
    int64_t tokens, cost_micros;
};

static void do_add_spent(struct entry *e, void *arg) {
    const struct spent_args *a = arg;
    if (!e)
        return;
    roll(e, a->month);
    if (e->b.month == a->month) {
        e->b.spent_tokens += a->tokens;
        e->b.spent_cost_micros += a->cost_micros;
    }
}

bw_err bw_limits_budget_add_spent(struct bw_limits *l, const char *org, const char *agent,
                                  int32_t month, int64_t tokens, int64_t cost_micros) {
    BW_ENSURE(tokens >= 0 && tokens <= BW_LIMITS_MAX_BUDGET && cost_micros >= 0 &&
                  cost_micros <= BW_LIMITS_MAX_BUDGET,
              BW_E_INVALID);
    struct spent_args a = {month, tokens, cost_micros};
    return with_scope(l, org, agent, 1, do_add_spent, &a);
}

struct get_args {
    int32_t month;
    struct bw_limits_budget_state *out;
};

static void do_get(struct entry *e, void *arg) {
    const struct get_args *a = arg;
    if (!e)
        return;
    roll(e, a->month);
    *a->out = e->b;
}

bw_err bw_limits_budget_get(struct bw_limits *l, const char *org, const char *agent, int64_t now_ms,
                            struct bw_limits_budget_state *out) {
    struct get_args a = {bw_limits_month_of(now_ms), out};
    return with_scope(l, org, agent, 0, do_get, &a);
}

#define FIT_INF INT64_MAX

/* The largest completion cap m such that prompt + m fits the scope's tokens and
 * cost(prompt, m) fits its cost (cost(p, m) <= R  <=>  p*pp + m*cp <= R*1e6, integers).
 * Negative when even m = 0 does not fit. */
static int64_t scope_fit(const struct bw_limits_budget_state *b, int64_t prompt,
                         const struct bw_limits_price *price, int leased) {
    int64_t fit = FIT_INF;
    /* leased mode: the ceiling is what this replica holds, not the whole limit */
    int64_t ceil_tokens = leased ? b->held_tokens : b->max_tokens;
    int64_t ceil_cost = leased ? b->held_cost_micros : b->max_cost_micros;
    if (b->max_tokens != BW_LIMITS_UNLIMITED) {
        int64_t rem = ceil_tokens - b->spent_tokens - b->reserved_tokens;
        fit = rem - prompt;
    }
    if (b->max_cost_micros != BW_LIMITS_UNLIMITED && price) {
        __int128 rem =
            ((__int128)ceil_cost - b->spent_cost_micros - b->reserved_cost_micros) * 1000000 -
            (__int128)prompt * price->prompt_per_1m;
        __int128 m;
        if (rem < 0)
            m = -1;
        else if (price->completion_per_1m == 0)
            m = FIT_INF;
        else
            m = rem / price->completion_per_1m;
        if (m < fit)
            fit = (int64_t)m;
    }
    return fit;
}

static int scope_limited(const struct bw_limits_budget_state *b) {
    return b->max_tokens != BW_LIMITS_UNLIMITED || b->max_cost_micros != BW_LIMITS_UNLIMITED;
}

static void charge(struct bw_limits_budget_state *b, int64_t tokens, int64_t cost) {
    b->reserved_tokens += tokens;
    b->reserved_cost_micros += cost;
}

/* Leased mode: how much more a scope must hold for a worst case of (tokens, cost), per limited
 * dimension (0 when it holds enough). */
static void scope_short(const struct entry *e, int64_t tokens, int64_t cost, int64_t *st,
                        int64_t *sc) {
    const struct bw_limits_budget_state *b = &e->b;
    *st = *sc = 0;
    if (b->max_tokens != BW_LIMITS_UNLIMITED) {
        int64_t avail = b->held_tokens - b->spent_tokens - b->reserved_tokens;
        *st = tokens > avail ? tokens - avail : 0;
    }
    if (b->max_cost_micros != BW_LIMITS_UNLIMITED) {
        int64_t avail = b->held_cost_micros - b->spent_cost_micros - b->reserved_cost_micros;
        *sc = cost > avail ? cost - avail : 0;
    }
}

/* Leased mode, the worst case does not fit the holding: 1 (and v->lease_short, short_*) if a
 * short scope's pool may still give more; 0 if every short scope's pool was found empty
 * recently (then the verdict is final: clamp or BUDGET_EXHAUSTED as on one node). Caller holds
 * the lock. */
static int lease_shortfall(const struct entry *eo, const struct entry *ea,
                           const struct bw_limits_call *call, int64_t completion, int64_t now_ms,
                           struct bw_limits_verdict *v) {
    int64_t tokens = call->prompt_tokens + completion;
    int64_t cost = bw_limits_cost(call->price, call->prompt_tokens, completion);
    const struct entry *scopes[2] = {eo, ea};
    int askable = 0;
    for (int i = 0; i < 2; i++) {
        if (!scopes[i])
            continue;
        scope_short(scopes[i], tokens, cost, &v->short_tokens[i], &v->short_cost[i]);
        if ((v->short_tokens[i] == 0 && v->short_cost[i] == 0) || scopes[i]->dry_until > now_ms) {
            v->short_tokens[i] = v->short_cost[i] = 0; /* enough, or its pool is empty */
            continue;
        }
        v->lease_short |= 1 << i;
        askable = 1;
    }
    if (!askable) {
        v->lease_short = 0;
        memset(v->short_tokens, 0, sizeof v->short_tokens);
        memset(v->short_cost, 0, sizeof v->short_cost);
    }
    return askable;
}

/* Leased mode, after a reservation: 1 once when the unused holding of a limited dimension fell
 * below half its last grant (the prefetch threshold). Caller holds the lock. */
static int holding_low(struct entry *e) {
    const struct bw_limits_budget_state *b = &e->b;
    if (e->prefetch_pending || !scope_limited(b))
        return 0;
    int low = 0;
    if (b->max_tokens != BW_LIMITS_UNLIMITED &&
        b->held_tokens - b->spent_tokens - b->reserved_tokens < e->last_grant_tokens / 2 + 1)
        low = 1;
    if (b->max_cost_micros != BW_LIMITS_UNLIMITED &&
        b->held_cost_micros - b->spent_cost_micros - b->reserved_cost_micros <
            e->last_grant_cost / 2 + 1)
        low = 1;
    if (low)
        e->prefetch_pending = 1;
    return low;
}

bw_err bw_limits_reserve(struct bw_limits *l, const struct bw_limits_call *call, int64_t now_ms,
                         struct bw_limits_reservation **out, struct bw_limits_verdict *v) {
    memset(v, 0, sizeof *v);
    if (!call || !name_ok(call->org, 0) || !name_ok(call->agent, 1) || call->prompt_tokens < 0 ||
        call->prompt_tokens > BW_LIMITS_MAX_TOKENS || call->max_tokens < -1 ||
        call->max_tokens > BW_LIMITS_MAX_TOKENS || call->default_max_tokens < -1 ||
        call->default_max_tokens > BW_LIMITS_MAX_TOKENS || call->choices < 0 ||
        call->choices > BW_LIMITS_MAX_CHOICES || call->extra_completion < 0 ||
        call->extra_completion > BW_LIMITS_MAX_TOKENS)
        return BW_E_INVALID;
    int64_t choices = call->choices > 0 ? call->choices : 1;
    const struct bw_limits_price *price = call->price;
    if (price && (price->prompt_per_1m < 0 || price->prompt_per_1m > BW_LIMITS_MAX_PRICE ||
                  price->completion_per_1m < 0 || price->completion_per_1m > BW_LIMITS_MAX_PRICE))
        return BW_E_INVALID;
    int64_t cap = call->max_tokens >= 0 ? call->max_tokens : call->default_max_tokens;
    int has_agent = call->agent && call->agent[0];
    char org_key[sizeof((struct entry *)0)->key], agent_key[sizeof org_key];
    if (scope_key(call->org, "", org_key, sizeof org_key) != 0 ||
        (has_agent && scope_key(call->org, call->agent, agent_key, sizeof agent_key) != 0))
        return BW_E_INVALID;

    struct bw_limits_reservation *r = calloc(1, sizeof *r);
    if (!r)
        return BW_E_NOMEM;
    int32_t month = bw_limits_month_of(now_ms);
    uint64_t h = hash_str(call->org, strlen(call->org));
    struct shard *s = shard_of(&l->budgets, h);
    struct entry *eo = NULL, *ea = NULL;
    bw_err result = BW_OK;

    pthread_mutex_lock(&s->mu);
    BW_GOTO(scope_get(l, s, hash_str(org_key, strlen(org_key)), org_key, 1, &eo));
    if (has_agent) {
        result = scope_get(l, s, hash_str(agent_key, strlen(agent_key)), agent_key, 0, &ea);
        if (result == BW_E_NOT_FOUND)
            result = BW_OK; /* no agent budget configured: the org scope alone */
        BW_GOTO(result);
    }
    /* a clock that went back stays in the scopes' month, so the reservation is released into
     * the month it was charged to */
    if (eo->b.month > month)
        month = eo->b.month;
    if (ea && ea->b.month > month)
        month = ea->b.month;
    roll(eo, month);
    if (ea)
        roll(ea, month);
    int limited = scope_limited(&eo->b) || (ea && scope_limited(&ea->b));
    int cost_limited = eo->b.max_cost_micros != BW_LIMITS_UNLIMITED ||
                       (ea && ea->b.max_cost_micros != BW_LIMITS_UNLIMITED);
    if (limited && (cap < 0 || call->prompt_unbounded)) {
        v->reason = BW_R_BUDGET_UNBOUNDED;
        BW_GOTO(BW_E_INVALID);
    }
    if (cost_limited && !price) {
        v->reason = BW_R_PRICE_UNKNOWN;
        BW_GOTO(BW_E_DENIED);
    }
    if (cap < 0)
        cap = 0; /* unlimited scopes and no cap: nothing to reserve for the completion */
    /* The completion worst case: every choice may reach the cap, and rejected predicted tokens
     * are billed on top (docs/SPEND.md "Worst case"). */
    int64_t worst = cap * choices + call->extra_completion;
    int64_t fit = scope_fit(&eo->b, call->prompt_tokens, price, l->leased);
    if (ea) {
        int64_t fa = scope_fit(&ea->b, call->prompt_tokens, price, l->leased);
        fit = fa < fit ? fa : fit;
    }
    int64_t m = cap;
    if (fit < worst && l->leased && lease_shortfall(eo, ea, call, worst, now_ms, v)) {
        v->reason = BW_R_BUDGET_EXHAUSTED;
        v->worst_tokens = call->prompt_tokens + worst;
        v->worst_cost_micros = bw_limits_cost(price, call->prompt_tokens, worst);
        BW_GOTO(BW_E_LIMIT); /* the caller leases more and reserves again */
    }
    if (fit < worst) {
        /* the largest per-choice cap whose worst case fits */
        int64_t per = fit > call->extra_completion ? (fit - call->extra_completion) / choices : 0;
        if (!call->allow_clamp || per < 1) {
            v->reason = BW_R_BUDGET_EXHAUSTED;
            v->fit_max_tokens = per;
            v->worst_tokens = call->prompt_tokens + worst;
            v->worst_cost_micros = bw_limits_cost(price, call->prompt_tokens, worst);
            BW_GOTO(BW_E_LIMIT);
        }
        m = per;
        worst = m * choices + call->extra_completion;
        v->clamped = 1;
    }
    r->tokens = call->prompt_tokens + worst;
    r->cost = bw_limits_cost(price, call->prompt_tokens, worst);
    charge(&eo->b, r->tokens, r->cost);
    if (ea)
        charge(&ea->b, r->tokens, r->cost);
    r->agent_scope = ea != NULL;
    if (l->leased) {
        v->lease_low = (holding_low(eo) ? 1 : 0) | (ea && holding_low(ea) ? 2 : 0);
    }
out:
    pthread_mutex_unlock(&s->mu);
    if (result != BW_OK) {
        free(r);
        return result;
    }
    memcpy(r->org, call->org, strlen(call->org) + 1);
    if (has_agent)
        memcpy(r->agent, call->agent, strlen(call->agent) + 1);
    r->month = month;
    if (price) {
        r->has_price = 1;
        r->price = *price;
    }
    v->max_tokens = m;
    v->worst_tokens = r->tokens;
    v->worst_cost_micros = r->cost;
    *out = r;
    return BW_OK;
}

/* Releases r's reservation from a scope and charges (tokens, cost) if the scope is still in r's
 * month. Caller holds the lock. */
static void release_scope(struct entry *e, const struct bw_limits_reservation *r, int64_t tokens,
                          int64_t cost) {
    if (!e || e->b.month != r->month)
        return; /* rolled over: last month's reservations were dropped with its totals */
    e->b.reserved_tokens -= r->tokens;
    e->b.reserved_cost_micros -= r->cost;
    if (e->b.reserved_tokens < 0)
        e->b.reserved_tokens = 0;
    if (e->b.reserved_cost_micros < 0)
        e->b.reserved_cost_micros = 0;
    e->b.spent_tokens += tokens;
    e->b.spent_cost_micros += cost;
}

static void finish(struct bw_limits *l, struct bw_limits_reservation *r, int64_t tokens,
                   int64_t cost) {
    char org_key[sizeof((struct entry *)0)->key], agent_key[sizeof org_key];
    uint64_t h = hash_str(r->org, strlen(r->org));
    struct shard *s = shard_of(&l->budgets, h);
    pthread_mutex_lock(&s->mu);
    if (scope_key(r->org, "", org_key, sizeof org_key) == 0)
        release_scope(find(s, hash_str(org_key, strlen(org_key)), org_key), r, tokens, cost);
    if (r->agent_scope && scope_key(r->org, r->agent, agent_key, sizeof agent_key) == 0)
        release_scope(find(s, hash_str(agent_key, strlen(agent_key)), agent_key), r, tokens, cost);
    pthread_mutex_unlock(&s->mu);
    free(r);
}

void bw_limits_settle(struct bw_limits *l, struct bw_limits_reservation *r, int64_t prompt_tokens,
                      int64_t completion_tokens, int64_t *cost_micros) {
    if (!r)
        return;
    if (prompt_tokens < 0 || prompt_tokens > BW_LIMITS_MAX_TOKENS)
        prompt_tokens = prompt_tokens < 0 ? 0 : BW_LIMITS_MAX_TOKENS;
    /* a call's completion is bounded by its choices times the cap, plus the extra */
    const int64_t max_completion = BW_LIMITS_MAX_TOKENS * (BW_LIMITS_MAX_CHOICES + 1);
    if (completion_tokens < 0 || completion_tokens > max_completion)
        completion_tokens = completion_tokens < 0 ? 0 : max_completion;
    int64_t cost = r->has_price ? bw_limits_cost(&r->price, prompt_tokens, completion_tokens) : 0;
    if (cost_micros)
        *cost_micros = cost;
    finish(l, r, prompt_tokens + completion_tokens, cost);
}

void bw_limits_cancel(struct bw_limits *l, struct bw_limits_reservation *r) {
    if (r)
        finish(l, r, 0, 0);
}

int32_t bw_limits_reservation_month(const struct bw_limits_reservation *r) {
    return r->month;
}

/* ---- leased mode ---- */

void bw_limits_set_leased(struct bw_limits *l) {
    l->leased = 1;
}

int bw_limits_leased(const struct bw_limits *l) {
    return l->leased;
}

int64_t bw_limits_lease_want(int64_t limit, int64_t left_seen, int64_t need) {
    if (limit < 0)
        return 0;
    if (need < 0)
        need = 0;
    int64_t base = (left_seen >= 0 && left_seen < limit ? left_seen : limit) / BW_LIMITS_LEASE_DIV;
    int64_t want = need > base ? need : base;
    return want > limit ? (need > limit ? need : limit) : want;
}

int64_t bw_limits_rate_lease_want(const struct bw_limits_rate *rate, int64_t need) {
    int64_t second = (rate->rate_per_min + 59) / 60;
    int64_t quarter = rate->burst / 4 > 0 ? rate->burst / 4 : 1;
    int64_t chunk = second < quarter ? second : quarter;
    int64_t want = need > chunk ? need : chunk;
    return want > rate->burst ? rate->burst : want;
}

struct grant_args {
    int32_t month;
    int64_t tokens, cost, left_tokens, left_cost;
};

static void do_grant(struct entry *e, void *arg) {
    struct grant_args *g = arg;
    if (!e)
        return;
    roll(e, g->month);
    if (e->b.month != g->month)
        return; /* a grant for a month that is over */
    e->b.held_tokens += g->tokens;
    e->b.held_cost_micros += g->cost;
    e->last_grant_tokens = g->tokens;
    e->last_grant_cost = g->cost;
    e->left_known = 1;
    e->left_tokens = g->left_tokens;
    e->left_cost = g->left_cost;
    e->dry_until = 0;
    e->prefetch_pending = 0;
}

bw_err bw_limits_budget_grant(struct bw_limits *l, const char *org, const char *agent,
                              int32_t month, int64_t tokens, int64_t cost_micros,
                              int64_t left_tokens, int64_t left_cost) {
    BW_ENSURE(tokens >= 0 && tokens <= BW_LIMITS_MAX_BUDGET && cost_micros >= 0 &&
                  cost_micros <= BW_LIMITS_MAX_BUDGET,
              BW_E_INVALID);
    struct grant_args g = {month, tokens, cost_micros, left_tokens, left_cost};
    return with_scope(l, org, agent, 1, do_grant, &g);
}

static void do_dry(struct entry *e, void *arg) {
    if (!e)
        return;
    e->dry_until = *(int64_t *)arg + BW_LIMITS_DRY_MS;
    e->prefetch_pending = 0;
}

void bw_limits_budget_dry(struct bw_limits *l, const char *org, const char *agent, int64_t now_ms) {
    (void)with_scope(l, org, agent, 0, do_dry, &now_ms);
}

static void do_prefetch_done(struct entry *e, void *arg) {
    (void)arg;
    if (e)
        e->prefetch_pending = 0;
}

void bw_limits_budget_prefetch_done(struct bw_limits *l, const char *org, const char *agent) {
    (void)with_scope(l, org, agent, 0, do_prefetch_done, NULL);
}

static void do_left_seen(struct entry *e, void *arg) {
    int64_t *v = arg;
    v[0] = v[1] = -2;
    if (e && e->left_known) {
        v[0] = e->left_tokens;
        v[1] = e->left_cost;
    }
}

void bw_limits_budget_left_seen(struct bw_limits *l, const char *org, const char *agent,
                                int64_t *left_tokens, int64_t *left_cost) {
    int64_t v[2] = {-2, -2};
    (void)with_scope(l, org, agent, 0, do_left_seen, v);
    *left_tokens = v[0];
    *left_cost = v[1];
}

struct unused_args {
    int found;
    int32_t month;
    int64_t tokens, cost;
};

static void do_take_unused(struct entry *e, void *arg) {
    struct unused_args *u = arg;
    if (!e)
        return;
    struct bw_limits_budget_state *b = &e->b;
    u->found = 1;
    u->month = b->month;
    u->tokens = b->held_tokens - b->spent_tokens - b->reserved_tokens;
    u->cost = b->held_cost_micros - b->spent_cost_micros - b->reserved_cost_micros;
    b->held_tokens -= u->tokens;
    b->held_cost_micros -= u->cost;
}

bw_err bw_limits_budget_take_unused(struct bw_limits *l, const char *org, const char *agent,
                                    int32_t *month, int64_t *tokens, int64_t *cost_micros) {
    struct unused_args u = {0, 0, 0, 0};
    BW_TRY(with_scope(l, org, agent, 0, do_take_unused, &u));
    BW_ENSURE(u.found, BW_E_NOT_FOUND);
    *month = u.month;
    *tokens = u.tokens;
    *cost_micros = u.cost;
    return BW_OK;
}

struct scope_copy {
    char org[BW_LIMITS_KEY_MAX];
    char agent[BW_LIMITS_KEY_MAX];
    struct bw_limits_budget_state st;
};

bw_err bw_limits_budget_each(struct bw_limits *l, bw_limits_scope_fn fn, void *arg) {
    struct scope_copy *v = NULL;
    size_t n = 0, cap = 0;
    bw_err result = BW_OK;
    for (size_t i = 0; i < NSHARDS && result == BW_OK; i++) {
        struct shard *s = &l->budgets.shards[i];
        pthread_mutex_lock(&s->mu);
        for (size_t h = 0; h < NHEADS && result == BW_OK; h++) {
            for (struct entry *e = s->heads[h]; e && result == BW_OK; e = e->next) {
                if (n == cap) {
                    size_t ncap = cap ? cap * 2 : 64;
                    struct scope_copy *nv = realloc(v, ncap * sizeof *nv);
                    if (!nv) {
                        result = BW_E_NOMEM;
                        break;
                    }
                    v = nv;
                    cap = ncap;
                }
                const char *sep = strchr(e->key, 0x1f);
                size_t no = sep ? (size_t)(sep - e->key) : strlen(e->key);
                memcpy(v[n].org, e->key, no);
                v[n].org[no] = 0;
                snprintf(v[n].agent, sizeof v[n].agent, "%s", sep ? sep + 1 : "");
                v[n].st = e->b;
                n++;
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
    for (size_t i = 0; result == BW_OK && i < n; i++)
        if (fn(arg, v[i].org, v[i].agent, &v[i].st) != 0)
            break;
    free(v);
    return result;
}

bw_err bw_limits_take_held(struct bw_limits *l, const char *key, int64_t n, int64_t now_us,
                           int64_t *short_n, int64_t *retry_after_ms) {
    BW_ENSURE(l->leased && key_ok(key) && n >= 1 && n <= BW_LIMITS_MAX_RATE, BW_E_INVALID);
    uint64_t h = hash_str(key, strlen(key));
    struct shard *s = shard_of(&l->buckets, h);
    bw_err result = BW_OK;
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, h, key);
    int64_t held = e && now_us <= e->expires_us ? e->level : 0;
    if (e && held >= n * SCALE) { /* held > 0 only with e; said so for the analyzer */
        e->level -= n * SCALE;
    } else if (e && e->dry_until > now_us) {
        *short_n = 0;
        *retry_after_ms = e->dry_retry_ms;
        result = BW_E_LIMIT;
    } else {
        *short_n = n - held / SCALE;
        *retry_after_ms = 0;
        result = BW_E_LIMIT;
    }
    pthread_mutex_unlock(&s->mu);
    return result;
}

/* Leased buckets that hold nothing and are not dry carry no state. Caller holds the lock. */
static void evict_leased(struct shard *s, int64_t now_us) {
    for (size_t h = 0; h < NHEADS; h++) {
        struct entry *e = s->heads[h];
        while (e) {
            struct entry *next = e->next;
            if ((now_us > e->expires_us || e->level == 0) && e->dry_until <= now_us)
                unlink_entry(s, e);
            e = next;
        }
    }
}

static bw_err leased_bucket(struct bw_limits *l, const char *key, int64_t now_us, struct shard **sp,
                            struct entry **out) {
    uint64_t h = hash_str(key, strlen(key));
    struct shard *s = shard_of(&l->buckets, h);
    *sp = s;
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, h, key);
    if (!e) {
        if (s->n >= l->buckets.per_shard_max)
            evict_leased(s, now_us);
        if (s->n >= l->buckets.per_shard_max)
            return BW_E_UNAVAILABLE;
        e = insert(s, h, key);
        if (!e)
            return BW_E_NOMEM;
    }
    *out = e;
    return BW_OK;
}

bw_err bw_limits_bucket_grant(struct bw_limits *l, const char *key,
                              const struct bw_limits_rate *rate, int64_t n, int64_t now_us) {
    BW_ENSURE(l->leased && key_ok(key) && rate_ok(rate) && n >= 0 && n <= BW_LIMITS_MAX_RATE,
              BW_E_INVALID);
    struct shard *s = NULL;
    struct entry *e = NULL;
    bw_err result = leased_bucket(l, key, now_us, &s, &e);
    if (result == BW_OK) {
        int64_t cap = rate->burst * SCALE;
        int64_t held = now_us <= e->expires_us ? e->level : 0;
        e->level = held + n * SCALE > cap ? cap : held + n * SCALE;
        e->expires_us = now_us + BW_LIMITS_RATE_LEASE_US;
        e->dry_until = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return result;
}

void bw_limits_bucket_dry(struct bw_limits *l, const char *key, int64_t now_us,
                          int64_t retry_after_ms) {
    if (!l->leased || !key_ok(key))
        return;
    struct shard *s = NULL;
    struct entry *e = NULL;
    if (leased_bucket(l, key, now_us, &s, &e) == BW_OK) {
        int64_t ms = retry_after_ms < 0 || retry_after_ms > 1000 ? 1000 : retry_after_ms;
        e->dry_until = now_us + ms * 1000;
        e->dry_retry_ms = retry_after_ms;
    }
    pthread_mutex_unlock(&s->mu);
}
