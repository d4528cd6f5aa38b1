/* log_sink.c: where log lines go (log.h). While the writer runs, a caller only copies its line
 * into a fixed ring of slots under a mutex held for that copy; the writer thread takes whole
 * batches out and writes them, so a slow disk or a blocked stderr pipe costs an event worker
 * nothing but, when the ring is full, the line (counted). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

struct slot {
    size_t len;
    char text[BW_LOG_MAX_LINE];
};

#define BATCH 64
#define STOP_WAIT_S 5                       /* how long a stop waits for the queue to be written */
#define OUT_BYTES (BATCH * BW_LOG_MAX_LINE) /* the writer's buffer: one batch */
#define LINGER_US                                                                                  \
    2000             /* under load, a batch of fewer than BATCH lines waits this long for more     \
                      */
#define BUSY_LINES 8 /* a previous batch this large means load: the next one lingers */

/* The sink's state. Owner: the main thread starts and stops it (bw_log_sink_start/stop, before
 * and after every other thread that logs runs its course); between those, every field below
 * except the atomics is protected by `mu`. `fd` is used by the writer thread only while it
 * runs, else by callers (single write(2) per line, thread-safe). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct slot *ring;            /* guarded by mu */
static size_t ring_cap, head, count; /* guarded by mu */
static int stopping, reopen_wanted;  /* guarded by mu */
static int closed;                   /* guarded by mu: the writer has drained and left */
/* guarded by mu: the writer waits for a first line (idle) or for a batch to fill (lingering);
 * a caller wakes it only then, so a busy gateway does not pay a wake-up per line */
static int idle, lingering;
static pthread_t writer;      /* main thread only */
static char file_path[4096];  /* set before the writer starts; read by it */
static int fd = 2;            /* see above */
static atomic_int running;    /* 1 between start and stop: lines go to the ring */
static atomic_ullong dropped; /* lines lost to a full ring */

static void write_all(int to, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(to, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere left to report it */
        p += w;
        n -= (size_t)w;
    }
}

static int open_log(const char *path) {
    /* O_NOFOLLOW: a symlink planted where the log goes must not redirect it */
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

static void write_direct(const char *line, size_t len) {
    char buf[BW_LOG_MAX_LINE + 1];
    if (len > BW_LOG_MAX_LINE - 1)
        len = BW_LOG_MAX_LINE - 1;
    memcpy(buf, line, len);
    buf[len++] = '\n';
    write_all(2, buf, len); /* one write(2): lines from threads do not interleave */
}

void bw_log_sink_line(const char *line, size_t len) {
    if (!atomic_load(&running)) {
        write_direct(line, len);
        return;
    }
    if (len > BW_LOG_MAX_LINE - 1)
        len = BW_LOG_MAX_LINE - 1;
    pthread_mutex_lock(&mu);
    if (closed) { /* the writer is gone (stop under way): straight to stderr */
        pthread_mutex_unlock(&mu);
        write_direct(line, len);
        return;
    }
    if (count == ring_cap) {
        pthread_mutex_unlock(&mu);
        atomic_fetch_add(&dropped, 1);
        return;
    }
    struct slot *s = &ring[(head + count) % ring_cap];
    memcpy(s->text, line, len);
    s->text[len] = '\n';
    s->len = len + 1;
    count++;
    if (idle || (lingering && count >= BATCH))
        pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static void reopen(void) {
    int nfd = open_log(file_path);
    if (nfd < 0) {
        char msg[128];
        int n = snprintf(msg, sizeof msg,
                         "log: cannot reopen the log file (%s): still writing "
                         "to the old one",
                         strerror(errno));
        write_all(fd, msg, (size_t)n);
        write_all(fd, "\n", 1);
        return;
    }
    close(fd);
    fd = nfd;
}

static void report_drops(unsigned long long *reported) {
    unsigned long long d = atomic_load(&dropped);
    if (d == *reported)
        return;
    char msg[128];
    int n = snprintf(msg, sizeof msg, "log: %llu line(s) dropped: the log queue was full\n",
                     d - *reported);
    write_all(fd, msg, (size_t)n);
    *reported = d;
}

/* With mu held and at least one line queued: under load (the previous batch held at least
 * BUSY_LINES lines), waits up to LINGER_US for a full batch, so lines that arrive together leave
 * in one write(2). A quiet gateway writes each line at once (an operator tailing the log, or a
 * test reading it, sees it as soon as it happened). */
static void linger(size_t last_batch) {
    if (last_batch < BUSY_LINES || count == 0 || count >= BATCH || stopping || reopen_wanted)
        return;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += LINGER_US * 1000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    lingering = 1;
    while (count < BATCH && !stopping && !reopen_wanted &&
           pthread_cond_timedwait(&cv, &mu, &until) == 0)
        ;
    lingering = 0;
}

/* The most one write(2) to `to` may hold: a write to a pipe or socket keeps whole lines up to
 * PIPE_BUF bytes (atomic there, so another writer's bytes never land inside a line); a write to
 * a file holds the whole batch. What `to` is changes only when the writer opens another file,
 * so the writer asks once per descriptor, not once per batch. */
static size_t write_cap(int to) {
    struct stat st;
    return fstat(to, &st) == 0 && S_ISREG(st.st_mode) ? OUT_BYTES : PIPE_BUF;
}

/* Writes n lines with as few write(2) calls of at most cap bytes as keep each line whole. */
static void write_batch(const struct slot *lines, size_t n, char *out, size_t cap) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (len > 0 && len + lines[i].len > cap) {
            write_all(fd, out, len);
            len = 0;
        }
        memcpy(out + len, lines[i].text, lines[i].len);
        len += lines[i].len;
    }
    if (len > 0)
        write_all(fd, out, len);
}

static void *writer_main(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "bw-log");
    /* the writer's own copy of a batch: no lock is held during I/O */
    struct slot *batch = malloc(BATCH * sizeof *batch);
    char *out = malloc(OUT_BYTES);
    if (!out) { /* out of memory: the slow path below writes line by line */
        free(batch);
        batch = NULL;
    }
    unsigned long long reported = atomic_load(&dropped); /* earlier runs were reported then */
    size_t last_batch = 0;
    size_t cap = write_cap(fd);
    for (;;) {
        pthread_mutex_lock(&mu);
        while (count == 0 && !stopping && !reopen_wanted) {
            idle = 1;
            pthread_cond_wait(&cv, &mu);
            idle = 0;
        }
        linger(last_batch);
        int do_reopen = reopen_wanted, stop = stopping && count == 0;
        reopen_wanted = 0;
        if (stop)
            closed = 1;
        size_t n = 0;
        while (batch && count > 0 && n < BATCH) {
            struct slot *s = &ring[head];
            batch[n].len = s->len;
            memcpy(batch[n].text, s->text, s->len);
            n++;
            head = (head + 1) % ring_cap;
            count--;
        }
        pthread_mutex_unlock(&mu);
        last_batch = n;
        write_batch(batch, n, out, cap);
        report_drops(&reported);
        if (do_reopen && file_path[0]) {
            reopen();
            cap = write_cap(fd);
        }
        if (stop) {
            free(batch);
            free(out);
            return NULL;
        }
        if (!batch) { /* out of memory: lines go straight to the fd, one at a time */
            pthread_mutex_lock(&mu);
            while (count > 0) {
                write_all(fd, ring[head].text, ring[head].len);
                head = (head + 1) % ring_cap;
                count--;
            }
            pthread_mutex_unlock(&mu);
        }
    }
}

bw_err bw_log_sink_start(const char *path, size_t queue_lines) {
    if (atomic_load(&running) || queue_lines == 0)
        return BW_E_INVALID;
    if (path && strlen(path) >= sizeof file_path)
        return BW_E_INVALID;
    int nfd = 2;
    if (path) {
        nfd = open_log(path);
        if (nfd < 0)
            return BW_E_IO;
    }
    struct slot *r = calloc(queue_lines, sizeof *r);
    if (!r) {
        if (nfd != 2)
            close(nfd);
        return BW_E_NOMEM;
    }
    snprintf(file_path, sizeof file_path, "%s", path ? path : "");
    pthread_mutex_lock(&mu);
    ring = r;
    ring_cap = queue_lines;
    head = count = 0;
    stopping = reopen_wanted = closed = 0;
    pthread_mutex_unlock(&mu);
    fd = nfd;
    if (pthread_create(&writer, NULL, writer_main, NULL) != 0) {
        fd = 2;
        if (nfd != 2)
            close(nfd);
        free(r);
        ring = NULL;
        return BW_E_NOMEM;
    }
    atomic_store(&running, 1);
    return BW_OK;
}

void bw_log_sink_reopen(void) {
    pthread_mutex_lock(&mu);
    reopen_wanted = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

void bw_log_sink_stop(void) {
    if (!atomic_load(&running))
        return;
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    /* A reader that stopped draining stderr (a stuck pipe) blocks the writer in write(2); the
     * process is exiting, so it is left there rather than hang the shutdown (its ring and fd
     * stay allocated: it may still be using them). */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += STOP_WAIT_S;
    if (pthread_timedjoin_np(writer, NULL, &until) != 0) {
        pthread_detach(writer);
        return;
    }
    atomic_store(&running, 0); /* from here on, lines are written directly to stderr */
    if (fd != 2)
        close(fd);
    fd = 2;
    pthread_mutex_lock(&mu);
    free(ring);
    ring = NULL;
    ring_cap = count = head = 0;
    pthread_mutex_unlock(&mu);
}

unsigned long long bw_log_sink_dropped(void) {
    return atomic_load(&dropped);
}
