#include "util/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bw_err bw_file_read_bounded(const char *path, size_t max, char **text, size_t *len, char *err,
                            size_t err_size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return BW_E_IO;
    }
    char *buf = malloc(max + 2);
    if (!buf) {
        fclose(f);
        return BW_E_NOMEM;
    }
    size_t n = fread(buf, 1, max + 1, f);
    int rd_err = ferror(f);
    fclose(f);
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
