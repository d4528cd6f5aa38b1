/* api_billing.c: billing webhooks (Stripe and Standard Webhooks signatures). */
#include "api/api.h"

const struct bw_api_route bw_api_routes_billing[] = {
    {0, NULL, BW_API_PUBLIC, NULL},
};
