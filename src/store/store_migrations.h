/* store_migrations.h: versioned schema migrations. The same version numbers will exist for
 * both backends; a migration never changes once released. */
#ifndef BW_STORE_MIGRATIONS_H
#define BW_STORE_MIGRATIONS_H

#include <stddef.h>

struct bw_migration {
    int version;
    const char *sqlite;
};

extern const struct bw_migration bw_store_migrations[];
extern const size_t bw_store_n_migrations;

#endif
