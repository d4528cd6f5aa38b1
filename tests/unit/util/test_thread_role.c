/* Unit tests: util/thread_role (the store-off-worker check): a thread marked as an event worker
 * that enters the store is counted, or, with BULWARK_ASSERT_STORE_OFF_WORKER=1, aborted; other
 * threads pass untouched. The abort runs in a forked child (a fake worker). */
/* cmocka needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"
#include "util/thread_role.h"

/* Owner: main (set up once before the tests). */
static char db_path[64], db_dir[32];

static void a_thread_has_no_role_until_it_sets_one(void **state) {
    (void)state;
    assert_int_equal(bw_thread_role(), BW_THREAD_OTHER);
    bw_thread_set_role(BW_THREAD_STORE);
    assert_int_equal(bw_thread_role(), BW_THREAD_STORE);
    bw_thread_set_role(BW_THREAD_OTHER);
}

static void the_store_off_a_worker_is_not_counted(void **state) {
    (void)state;
    struct bw_store *s = NULL;
    uint64_t before = bw_thread_store_on_worker_total();
    assert_int_equal(bw_store_open(db_path, 0, &s), BW_OK);
    assert_int_equal(bw_store_ping(s), BW_OK);
    bw_store_close(s);
    assert_int_equal(bw_thread_store_on_worker_total(), before);
}

static void a_worker_entering_the_store_is_counted(void **state) {
    (void)state;
    unsetenv("BULWARK_ASSERT_STORE_OFF_WORKER");
    struct bw_store *s = NULL;
    assert_int_equal(bw_store_open(db_path, 0, &s), BW_OK);
    uint64_t before = bw_thread_store_on_worker_total();
    bw_thread_set_role(BW_THREAD_WORKER);
    assert_int_equal(bw_store_ping(s), BW_OK); /* counted, still served */
    char org[BW_ID_SIZE];
    assert_int_equal(bw_store_org_create(s, "acme-role", org), BW_OK); /* a transaction */
    bw_thread_set_role(BW_THREAD_OTHER);
    assert_int_equal(bw_thread_store_on_worker_total(), before + 2);
    bw_store_close(s);
}

/* In a forked child (one thread: itself, marked a worker): 0 if fn returned, else it died. */
static int child_status(int assert_env, int which) {
    pid_t pid = fork();
    if (pid == 0) {
        if (assert_env)
            setenv("BULWARK_ASSERT_STORE_OFF_WORKER", "1", 1);
        else
            setenv("BULWARK_ASSERT_STORE_OFF_WORKER", "0", 1);
        struct bw_store *s = NULL;
        if (bw_store_open(db_path, 0, &s) != BW_OK)
            _exit(3);
        int fd = open("/dev/null", 0); /* keep the expected abort line out of the test log */
        if (fd >= 0)
            dup2(fd, 2);
        bw_thread_set_role(BW_THREAD_WORKER);
        char org[BW_ID_SIZE];
        bw_err e = which ? bw_store_org_create(s, "acme-child", org) : bw_store_ping(s);
        _exit(e == BW_OK ? 0 : 4);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return st;
}

static void with_the_assertion_a_worker_entering_the_store_aborts(void **state) {
    (void)state;
    for (int which = 0; which < 2; which++) {
        int st = child_status(1, which);
        assert_true(WIFSIGNALED(st));
        assert_int_equal(WTERMSIG(st), SIGABRT);
        st = child_status(0, which); /* "0" is not "1": counted, not fatal */
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

static int setup_db(void) {
    snprintf(db_dir, sizeof db_dir, "/tmp/bw-role-XXXXXX");
    if (!mkdtemp(db_dir))
        return -1;
    snprintf(db_path, sizeof db_path, "%s/t.db", db_dir);
    struct bw_store *s = NULL;
    if (bw_store_open_sqlite(db_path, 1, &s) != BW_OK)
        return -1;
    bw_store_close(s);
    return 0;
}

int main(void) {
    if (setup_db() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_thread_has_no_role_until_it_sets_one),
        cmocka_unit_test(the_store_off_a_worker_is_not_counted),
        cmocka_unit_test(a_worker_entering_the_store_is_counted),
        cmocka_unit_test(with_the_assertion_a_worker_entering_the_store_aborts),
    };
    int rc = cmocka_run_group_tests_name("thread_role", tests, NULL, NULL);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", db_dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
