/* fsync_probe.c: how long one fdatasync takes on the disk of a directory, the yardstick of the
 * race's latency target (issue 15: Bulwark's added p50 at one connection ≤ 1.5x the p50 of one
 * fdatasync on the same disk). bench/run.sh builds it into its temp dir and runs it on the
 * directory that holds the gateway's ledger, in the same run as the race.
 *
 * It does what the ledger does per group commit, minus the encoding: append BYTES bytes to a
 * fresh file (O_APPEND, so the size grows and fdatasync must also write the size) and fdatasync
 * it; N times. Only the fdatasync is timed (the write lands in the page cache in a few µs).
 * The file is unlinked at the end, also when a call fails.
 *
 * Build and run (from the repository root):
 *   cc -O2 -std=c11 -D_GNU_SOURCE bench/fsync_probe.c -o build/fsync_probe
 *   build/fsync_probe DIR [N, default 200] [BYTES, default 512]
 * Prints one line: FSYNC n=N bytes=BYTES p50_us=… p90_us=… p99_us=… max_us=… */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_N 100000
#define MAX_BYTES 65536

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array of n > 0 values. */
static double pct(const double *v, long n, double p) {
    long i = (long)(p / 100.0 * (double)n + 0.999999) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return v[i];
}

/* A positive integer no larger than max, or -1. */
static long parse_count(const char *s, long max) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > max)
        return -1;
    return v;
}

/* Appends and syncs n times; fills took[] (µs). Returns 0, or -1 with errno's text printed. */
static int probe(int fd, long n, const char *buf, long bytes, double *took) {
    for (long i = 0; i < n; i++) {
        if (write(fd, buf, (size_t)bytes) != (ssize_t)bytes) {
            perror("fsync_probe: write");
            return -1;
        }
        double t0 = now_us();
        if (fdatasync(fd) != 0) {
            perror("fsync_probe: fdatasync");
            return -1;
        }
        took[i] = now_us() - t0;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: fsync_probe DIR [N] [BYTES]\n");
        return 2;
    }
    long n = argc > 2 ? parse_count(argv[2], MAX_N) : 200;
    long bytes = argc > 3 ? parse_count(argv[3], MAX_BYTES) : 512;
    if (n < 0 || bytes < 0) {
        fprintf(stderr, "fsync_probe: N must be 1..%d and BYTES 1..%d\n", MAX_N, MAX_BYTES);
        return 2;
    }
    char path[4096];
    if (snprintf(path, sizeof path, "%s/fsync-probe.XXXXXX", argv[1]) >= (int)sizeof path) {
        fprintf(stderr, "fsync_probe: directory name too long\n");
        return 2;
    }
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("fsync_probe: mkstemp");
        return 1;
    }
    int flags = fcntl(fd, F_GETFL);
    double *took = calloc((size_t)n, sizeof *took);
    char *buf = malloc((size_t)bytes);
    int rc = 1;
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_APPEND) != 0 || !took || !buf) {
        fprintf(stderr, "fsync_probe: set-up failed\n");
        goto out;
    }
    memset(buf, 'r', (size_t)bytes);
    if (probe(fd, n, buf, bytes, took) != 0)
        goto out;
    qsort(took, (size_t)n, sizeof *took, cmp_double);
    printf("FSYNC n=%ld bytes=%ld p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f\n", n, bytes,
           pct(took, n, 50), pct(took, n, 90), pct(took, n, 99), took[n - 1]);
    rc = 0;
out:
    close(fd);
    unlink(path);
    free(took);
    free(buf);
    return rc;
}
