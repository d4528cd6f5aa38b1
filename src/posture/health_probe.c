/* health_probe.c: the health prober (health.h): one thread, one round of checks per interval,
 * each check bounded by its own timeout, stopped by bw_health_stop (SIGTERM's teardown).
 *
 * It checks only what a call needs and never spends money: a store ping through its own
 * handle, the ledger's state and its directory, and a TCP connect to the upstream's address
 * (no request is sent on it). It never logs what it sees: a dependency's detail (a URL, an
 * error message) stays out of the registry by construction (classes only). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "ledger/ledger.h"
#include "posture/health_internal.h"
#include "store/store.h"
#include "util/log.h"
#include "util/time.h"

#define LEDGER_MIN_FREE_BYTES (1u << 20) /* below this the next batch may not fit: disk_full */

struct prober {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* signalled by bw_health_stop */
    int stopping;        /* under mu */
    pthread_t thread;
    char where[4096];       /* store path or URL: used to open, never shown */
    struct bw_store *store; /* the prober's own handle; NULL until opened (reopened on failure) */
    struct bw_ledger *ledger;
    char host[256], port[8]; /* the upstream's address, "" = none */
    int interval_ms, connect_timeout_ms;
};

/* The running prober, or NULL. Owner: bw_health_start and bw_health_stop, which run on the
 * main thread of `bulwark serve` (start in setup, stop in teardown); the prober thread only
 * reads the struct it was given. */
static struct prober *running;

static void probe_store(struct prober *p) {
    int64_t t0 = bw_mono_us();
    bw_err e = BW_OK;
    if (!p->store)
        e = bw_store_open(p->where, 0, &p->store);
    if (e == BW_OK)
        e = bw_store_ping(p->store);
    int64_t lat = bw_mono_us() - t0;
    if (e == BW_OK) {
        bw_health_probed(BW_HEALTH_STORE, BW_HEALTH_UP, BW_HC_NONE, lat);
        return;
    }
    /* SQLite: a fresh handle next round (the file may have been replaced). PostgreSQL:
     * bw_store_ping reconnects the same handle. */
    if (p->store && !bw_store_is_postgres(p->where)) {
        bw_store_close(p->store);
        p->store = NULL;
    }
    bw_health_probed(BW_HEALTH_STORE, BW_HEALTH_DOWN, BW_HC_UNAVAILABLE, lat);
}

/* The ledger's own record of its writes: a batch that failed to write (and nothing made
 * durable since) keeps it down for BW_HEALTH_HOLD_MS after that failure. */
static enum bw_health_class ledger_writes(struct bw_ledger *l) {
    int64_t fail_ms;
    int err, recovered;
    bw_ledger_write_state(l, &fail_ms, &err, &recovered);
    if (!fail_ms || recovered || bw_now_ms() - fail_ms >= BW_HEALTH_HOLD_MS)
        return BW_HC_NONE;
    return err == ENOSPC || err == EDQUOT ? BW_HC_DISK_FULL : BW_HC_UNWRITABLE;
}

static void probe_ledger(struct prober *p) {
    int64_t t0 = bw_mono_us();
    enum bw_health_class c = BW_HC_NONE;
    const char *dir = bw_ledger_dir(p->ledger);
    struct statvfs vfs;
    char log[4200];
    snprintf(log, sizeof log, "%s/log", dir);
    if (bw_ledger_frozen(p->ledger))
        c = BW_HC_FROZEN;
    else if (access(dir, W_OK) != 0 || access(log, W_OK) != 0)
        c = BW_HC_UNWRITABLE;
    else if (statvfs(dir, &vfs) != 0)
        c = BW_HC_UNWRITABLE;
    else if ((uint64_t)vfs.f_bavail * vfs.f_frsize < LEDGER_MIN_FREE_BYTES)
        c = BW_HC_DISK_FULL;
    else
        c = ledger_writes(p->ledger);
    bw_health_probed(BW_HEALTH_LEDGER, c == BW_HC_NONE ? BW_HEALTH_UP : BW_HEALTH_DOWN, c,
                     bw_mono_us() - t0);
}

/* One non-blocking connect, waited for at most timeout_ms. */
static enum bw_health_class connect_one(const struct addrinfo *ai, int timeout_ms) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return BW_HC_NETWORK;
    enum bw_health_class c = BW_HC_NONE;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            c = errno == ECONNREFUSED ? BW_HC_REFUSED : BW_HC_NETWORK;
        } else {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int n = poll(&pfd, 1, timeout_ms);
            int err = 0;
            socklen_t len = sizeof err;
            if (n == 0)
                c = BW_HC_TIMEOUT;
            else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                c = BW_HC_NETWORK;
            else if (err)
                c = err == ECONNREFUSED ? BW_HC_REFUSED
                    : err == ETIMEDOUT  ? BW_HC_TIMEOUT
                                        : BW_HC_NETWORK;
        }
    }
    close(fd);
    return c;
}

static void probe_upstream(struct prober *p) {
    if (!p->host[0])
        return;
    int64_t t0 = bw_mono_us();
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    enum bw_health_class c = BW_HC_DNS;
    /* getaddrinfo is bounded by the resolver's own timeouts (resolv.conf); it delays only this
     * thread's round, never a call. */
    if (getaddrinfo(p->host, p->port, &hints, &res) == 0 && res)
        c = connect_one(res, p->connect_timeout_ms);
    if (res)
        freeaddrinfo(res);
    bw_health_probed(BW_HEALTH_UPSTREAM, c == BW_HC_NONE ? BW_HEALTH_UP : BW_HEALTH_DOWN, c,
                     bw_mono_us() - t0);
}

static void round_once(struct prober *p) {
    probe_store(p);
    probe_ledger(p);
    probe_upstream(p);
}

static void *loop(void *arg) {
    struct prober *p = arg;
    pthread_setname_np(pthread_self(), "bw-health");
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        long ns = deadline.tv_nsec + (long)(p->interval_ms % 1000) * 1000000L;
        deadline.tv_sec += p->interval_ms / 1000 + ns / 1000000000L;
        deadline.tv_nsec = ns % 1000000000L;
        while (!p->stopping)
            if (pthread_cond_timedwait(&p->cond, &p->mu, &deadline) == ETIMEDOUT)
                break;
        if (p->stopping)
            break;
        pthread_mutex_unlock(&p->mu);
        round_once(p);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* "http[s]://[userinfo@]host[:port][/...]" (host may be [v6]) into host and port. 0 on
 * success. */
int bw_health_split_url(const char *url, char *host, size_t host_size, char port[8]) {
    const char *auth;
    if (strncmp(url, "http://", 7) == 0) {
        auth = url + 7;
        snprintf(port, 8, "80");
    } else if (strncmp(url, "https://", 8) == 0) {
        auth = url + 8;
        snprintf(port, 8, "443");
    } else {
        return -1;
    }
    size_t alen = strcspn(auth, "/?#");
    for (size_t i = alen; i > 0; i--) /* userinfo is never used by the probe */
        if (auth[i - 1] == '@') {
            alen -= i;
            auth += i;
            break;
        }
    const char *h = auth, *after;
    size_t hlen;
    if (alen > 0 && auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        if (!close)
            return -1;
        h = auth + 1;
        hlen = (size_t)(close - h);
        after = close + 1;
    } else {
        const char *colon = memchr(auth, ':', alen);
        hlen = colon ? (size_t)(colon - auth) : alen;
        after = auth + hlen;
    }
    if (hlen == 0 || hlen >= host_size)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = 0;
    size_t left = alen - (size_t)(after - auth);
    if (left == 0)
        return 0;
    if (after[0] != ':' || left < 2 || left > 6 || strspn(after + 1, "0123456789") < left - 1)
        return -1;
    memcpy(port, after + 1, left - 1);
    port[left - 1] = 0;
    return 0;
}

bw_err bw_health_start(const struct bw_health_probe_opts *o) {
    if (running)
        return BW_E_EXISTS;
    struct prober *p = calloc(1, sizeof *p);
    if (!p)
        return BW_E_NOMEM;
    snprintf(p->where, sizeof p->where, "%s", o->store_where ? o->store_where : "");
    p->ledger = o->ledger;
    p->interval_ms = o->interval_ms > 0 ? o->interval_ms : 1000;
    p->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 1000;
    if (o->upstream_url && o->upstream_url[0] &&
        bw_health_split_url(o->upstream_url, p->host, sizeof p->host, p->port) != 0) {
        free(p);
        return BW_E_INVALID;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    round_once(p); /* before the thread: it is the only user of p until then */
    bw_health_monitoring(1);
    if (pthread_create(&p->thread, NULL, loop, p) != 0) {
        bw_health_monitoring(0);
        bw_store_close(p->store);
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return BW_E_INTERNAL;
    }
    running = p;
    return BW_OK;
}

void bw_health_stop(void) {
    struct prober *p = running;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    running = NULL;
    bw_health_monitoring(0);
    bw_store_close(p->store);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
