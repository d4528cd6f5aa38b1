/* api_ledger.c: evidence endpoints (receipts, checkpoints, proofs, export). */
#include "api/api.h"

const struct bw_api_route bw_api_routes_ledger[] = {
    {0, NULL, BW_API_PUBLIC, NULL},
};
