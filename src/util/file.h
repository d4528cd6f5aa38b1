/* file.h: reading small files whole (configuration, policies), with a bound; making a
 * directory entry durable.
 * Thread-safe. */
#ifndef BW_UTIL_FILE_H
#define BW_UTIL_FILE_H

#include <stddef.h>

#include "util/err.h"

/* Reads at most max + 1 bytes of path into a new malloc'd, NUL-terminated buffer (*text, the
 * caller frees) so the caller can tell a file over max (*len > max) and say so in its own
 * words. Errors: BW_E_IO ("<path>: cannot open: ..." or "<path>: read error" in err),
 * BW_E_NOMEM. */
bw_err bw_file_read_bounded(const char *path, size_t max, char **text, size_t *len, char *err,
                            size_t err_size) BW_MUST_CHECK;

/* fsync(2) of the directory dir, so a rename or create inside it is durable. Errors: BW_E_IO. */
bw_err bw_file_fsync_dir(const char *dir) BW_MUST_CHECK;
/* The same for the directory holding path ("." when path has no '/'). Errors: BW_E_IO
 * (including a path whose directory name does not fit PATH_MAX). */
bw_err bw_file_fsync_parent(const char *path) BW_MUST_CHECK;

#endif
