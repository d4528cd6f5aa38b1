#include "util/err.h"

const char *bw_err_str(bw_err e) {
    switch (e) {
    case BW_OK:
        return "ok";
    case BW_E_INVALID:
        return "invalid input";
    case BW_E_TOO_LARGE:
        return "too large";
    case BW_E_NOT_FOUND:
        return "not found";
    case BW_E_EXISTS:
        return "already exists";
    case BW_E_DENIED:
        return "denied";
    case BW_E_UNAUTH:
        return "unauthenticated";
    case BW_E_LIMIT:
        return "limit exceeded";
    case BW_E_UPSTREAM:
        return "upstream error";
    case BW_E_TIMEOUT:
        return "timed out";
    case BW_E_UNAVAILABLE:
        return "unavailable";
    case BW_E_IO:
        return "i/o error";
    case BW_E_NOMEM:
        return "out of memory";
    case BW_E_CRYPTO:
        return "crypto failure";
    case BW_E_INTERNAL:
        return "internal error";
    default:
        return "unknown error";
    }
}

int bw_err_http_status(bw_err e) {
    switch (e) {
    case BW_OK:
        return 200;
    case BW_E_INVALID:
        return 400;
    case BW_E_TOO_LARGE:
        return 413;
    case BW_E_NOT_FOUND:
        return 404;
    case BW_E_EXISTS:
        return 409;
    case BW_E_DENIED:
        return 403;
    case BW_E_UNAUTH:
        return 401;
    case BW_E_LIMIT:
        return 429;
    case BW_E_UPSTREAM:
        return 502;
    case BW_E_TIMEOUT:
        return 504;
    case BW_E_UNAVAILABLE:
        return 503;
    default:
        return 500;
    }
}
