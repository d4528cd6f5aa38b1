/* mcp_session.c: the gateway's MCP sessions (mcp.h). A client only ever holds the gateway's
 * id: 128 random bits, mapped here to the upstream's own id and bound to the org, principal
 * (key id) and server that created it. A lookup by anyone else answers as for an unknown id, so
 * a session id seen by another key (even of the same org) is worth nothing. Bounded: a fixed
 * table, idle expiry, a per-key cap.
 *
 * The table is BUCKETS buckets of BUCKET_SLOTS slots; a session lives in the bucket its id's
 * first random bytes name. The gateway picks the ids, so a bind draws ids until one names a
 * bucket with room, and a lookup compares only that bucket's slots (all of them, in constant
 * time) instead of the whole table. A bucket's occupancy says nothing about another session's
 * id (128 random bits), so the shorter scan leaks nothing a caller could use. */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "mcp/mcp.h"
#include "util/codec.h"

struct session {
    int used;
    int64_t last_ms;
    char id[BW_MCP_SESSION_ID_LEN + 1];
    char upstream[BW_MCP_UPSTREAM_SESSION_MAX + 1];
    char org_id[48];
    char principal[48];
    char server[BW_MCP_SERVER_NAME_MAX_BYTES];
    int get_streams; /* GET streams open on it (mcp_stream.c: bw_mcp_session_stream) */
};

#define BUCKET_SLOTS 8
#define BUCKETS (BW_MCP_MAX_SESSIONS / BUCKET_SLOTS)
#define BIND_DRAWS 32 /* ids drawn before a bind gives up (the table is then nearly full) */

/* Shared by every event worker: protected by table_mu, held only for scans of the table (no
 * I/O, no allocation under it). */
static struct session table[BW_MCP_MAX_SESSIONS];
/* Guards table. */
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;

static int live(const struct session *s, int64_t now_ms) {
    return s->used && now_ms - s->last_ms < BW_MCP_SESSION_IDLE_MS;
}

static int visible_ascii(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > BW_MCP_UPSTREAM_SESSION_MAX)
        return 0;
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e)
            return 0;
    return 1;
}

static int fits(const char *s, size_t size) {
    return strlen(s) < size;
}

/* The first slot of the bucket of a (hex) id: its first four hex digits, or NULL when they are
 * not lowercase hex (not an id the gateway made). */
static struct session *bucket_of(const char *id) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = id[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return NULL;
        v = v << 4 | (unsigned)d;
    }
    return &table[(v % BUCKETS) * BUCKET_SLOTS];
}

/* A free (or expired) slot in id's bucket, or NULL. Call with table_mu held. */
static struct session *room_for(const char *id, int64_t now_ms) {
    struct session *b = bucket_of(id);
    for (size_t i = 0; b && i < BUCKET_SLOTS; i++)
        if (!live(&b[i], now_ms))
            return &b[i];
    return NULL;
}

bw_err bw_mcp_session_bind(const char *org_id, const char *principal, const char *server,
                           const char *upstream_id, int64_t now_ms,
                           char id_out[BW_MCP_SESSION_ID_LEN + 1]) {
    return bw_mcp_session_bind_max(org_id, principal, server, upstream_id, now_ms,
                                   BW_MCP_MAX_SESSIONS_PER_KEY, id_out);
}

bw_err bw_mcp_session_bind_max(const char *org_id, const char *principal, const char *server,
                               const char *upstream_id, int64_t now_ms, size_t per_key_max,
                               char id_out[BW_MCP_SESSION_ID_LEN + 1]) {
    if (!visible_ascii(upstream_id) || !fits(org_id, 48) || !fits(principal, 48) ||
        !fits(server, BW_MCP_SERVER_NAME_MAX_BYTES))
        return BW_E_INVALID;
    uint8_t raw[BW_MCP_SESSION_ID_LEN / 2];
    char id[BW_MCP_SESSION_ID_LEN + 1];
    bw_err e = BW_E_LIMIT;
    pthread_mutex_lock(&table_mu);
    size_t mine = 0;
    for (size_t i = 0; i < BW_MCP_MAX_SESSIONS; i++) { /* a bind is rare: initialize only */
        const struct session *s = &table[i];
        if (live(s, now_ms) && strcmp(s->org_id, org_id) == 0 &&
            strcmp(s->principal, principal) == 0)
            mine++;
    }
    struct session *slot = NULL;
    for (int draw = 0; mine < per_key_max && !slot && draw < BIND_DRAWS; draw++) {
        randombytes_buf(raw, sizeof raw);
        if (bw_hex_encode(raw, sizeof raw, id, sizeof id) != BW_OK)
            break;
        slot = room_for(id, now_ms);
    }
    if (slot) {
        memset(slot, 0, sizeof *slot); /* an expired session's slot: forget it */
        slot->used = 1;
        slot->last_ms = now_ms;
        memcpy(slot->id, id, sizeof id);
        snprintf(slot->upstream, sizeof slot->upstream, "%s", upstream_id);
        snprintf(slot->org_id, sizeof slot->org_id, "%s", org_id);
        snprintf(slot->principal, sizeof slot->principal, "%s", principal);
        snprintf(slot->server, sizeof slot->server, "%s", server);
        e = BW_OK;
    }
    pthread_mutex_unlock(&table_mu);
    if (e == BW_OK)
        memcpy(id_out, id, sizeof id);
    sodium_memzero(raw, sizeof raw);
    return e;
}

/* The slot holding id for this caller, or NULL. Every slot of the id's bucket is compared in
 * constant time (sodium_memcmp): the scan's timing says nothing about how much of an id
 * matched. Call with table_mu held. */
static struct session *find(const char *id, const char *org_id, const char *principal,
                            const char *server, int64_t now_ms) {
    if (strlen(id) != BW_MCP_SESSION_ID_LEN)
        return NULL;
    struct session *b = bucket_of(id), *hit = NULL;
    for (size_t i = 0; b && i < BUCKET_SLOTS; i++) {
        struct session *s = &b[i];
        int same = sodium_memcmp(s->id, id, BW_MCP_SESSION_ID_LEN) == 0;
        if (same && s->used)
            hit = s;
    }
    if (!hit || !live(hit, now_ms) || strcmp(hit->org_id, org_id) != 0 ||
        strcmp(hit->principal, principal) != 0 || strcmp(hit->server, server) != 0)
        return NULL;
    return hit;
}

int bw_mcp_session_lookup(const char *id, const char *org_id, const char *principal,
                          const char *server, int64_t now_ms, char *out, size_t out_size) {
    int rc = -1;
    pthread_mutex_lock(&table_mu);
    struct session *s = find(id, org_id, principal, server, now_ms);
    if (s && strlen(s->upstream) < out_size) {
        s->last_ms = now_ms;
        memcpy(out, s->upstream, strlen(s->upstream) + 1);
        rc = 0;
    }
    pthread_mutex_unlock(&table_mu);
    return rc;
}

int bw_mcp_session_end(const char *id, const char *org_id, const char *principal,
                       const char *server) {
    int rc = -1;
    pthread_mutex_lock(&table_mu);
    /* now_ms 0 would make every session look expired: expiry does not matter for ending */
    struct session *s = find(id, org_id, principal, server, INT64_MIN / 2);
    if (s) {
        sodium_memzero(s, sizeof *s);
        rc = 0;
    }
    pthread_mutex_unlock(&table_mu);
    return rc;
}

int bw_mcp_session_stream(const char *id, const char *org_id, const char *principal,
                          const char *server, int delta, int64_t now_ms) {
    int rc = -1;
    pthread_mutex_lock(&table_mu);
    /* closing: found whatever its age (an ended session, or its slot reused under another id,
     * is not found: nothing to release) */
    struct session *s = find(id, org_id, principal, server, delta > 0 ? now_ms : INT64_MIN / 2);
    if (s && delta > 0 && s->get_streams < BW_MCP_GET_STREAMS_PER_SESSION) {
        s->get_streams++;
        rc = 0;
    } else if (s && delta < 0 && s->get_streams > 0) {
        s->get_streams--;
        rc = 0;
    }
    pthread_mutex_unlock(&table_mu);
    return rc;
}
