/* err.h: Bulwark's error codes and the linear-code macros every module uses.
 *
 * Every fallible function returns bw_err (BW_OK = 0) and is marked BW_MUST_CHECK. Errors have a
 * category that maps to an HTTP status (bw_err_http_status) so the edge never guesses. */
#ifndef BW_UTIL_ERR_H
#define BW_UTIL_ERR_H

#define BW_MUST_CHECK __attribute__((warn_unused_result))
/* Drops a BW_MUST_CHECK result where ignoring it is right (GCC does not accept a (void) cast for
 * that). The comment on the same line or the line above says why; scripts/checksrc.py checks
 * that there is one. */
#define BW_IGNORE(expr)                                                                            \
    do {                                                                                           \
        if (expr) {                                                                                \
        }                                                                                          \
    } while (0)

typedef enum bw_err {
    BW_OK = 0,
    BW_E_INVALID,     /* caller passed something malformed (client error, 400) */
    BW_E_TOO_LARGE,   /* a bound was exceeded (413 for bodies, 400 otherwise) */
    BW_E_NOT_FOUND,   /* no such object (404) */
    BW_E_EXISTS,      /* refusing to overwrite (409) */
    BW_E_DENIED,      /* authorization or policy said no (403) */
    BW_E_UNAUTH,      /* no valid credential (401) */
    BW_E_LIMIT,       /* rate or budget limit (429) */
    BW_E_UPSTREAM,    /* upstream answered garbage or failed (502) */
    BW_E_TIMEOUT,     /* upstream or peer took too long (504) */
    BW_E_UNAVAILABLE, /* a dependency we need is down: ledger, store (503) */
    BW_E_IO,          /* filesystem or socket failure (500) */
    BW_E_NOMEM,       /* allocation failed (500) */
    BW_E_CRYPTO,      /* a crypto primitive failed or a signature/hash did not verify (500) */
    BW_E_INTERNAL,    /* broken invariant (500) */
} bw_err;

/* Static, lowercase, never contains user data. */
const char *bw_err_str(bw_err e);
/* HTTP status for the error's category. */
int bw_err_http_status(bw_err e);

/* Linear code: propagate the first error. Use inside functions returning bw_err. */
#define BW_TRY(expr)                                                                               \
    do {                                                                                           \
        bw_err bw_try_err_ = (expr);                                                               \
        if (bw_try_err_ != BW_OK)                                                                  \
            return bw_try_err_;                                                                    \
    } while (0)

#define BW_ENSURE(cond, err)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return (err);                                                                          \
    } while (0)

/* For functions that own resources: set `result` and jump to the single exit `out:`. */
#define BW_GOTO(expr)                                                                              \
    do {                                                                                           \
        result = (expr);                                                                           \
        if (result != BW_OK)                                                                       \
            goto out;                                                                              \
    } while (0)

#define BW_GOTO_IF(cond, err)                                                                      \
    do {                                                                                           \
        if (cond) {                                                                                \
            result = (err);                                                                        \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#endif
