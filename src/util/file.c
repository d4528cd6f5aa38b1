#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bw_err bw_file_read_bounded(const char *path, size_t max, char **text, size_t *len, char *err,
                            size_t err_size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return BW_E_IO;
    }
    char *buf = malloc(max + 2);
    if (!buf) {
        (void)fclose(f); /* read only: a close error loses nothing */
        return BW_E_NOMEM;
    }
    size_t n = fread(buf, 1, max + 1, f);
    int rd_err = ferror(f);
    (void)fclose(f); /* read only: a close error loses nothing */
    if (rd_err) {
        free(buf);
        snprintf(err, err_size, "%s: read error", path);
        return BW_E_IO;
    }
    buf[n] = 0;
    *text = buf;
    *len = n;
    return BW_OK;
}

bw_err bw_file_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return BW_E_IO;
    int ok = fsync(fd) == 0;
    close(fd);
    return ok ? BW_OK : BW_E_IO;
}

bw_err bw_file_fsync_parent(const char *path) {
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (n == 0)
        snprintf(dir, sizeof dir, "/");
    else if (n >= sizeof dir)
        return BW_E_IO;
    else
        snprintf(dir, sizeof dir, "%.*s", (int)n, path);
    return bw_file_fsync_dir(dir);
}
