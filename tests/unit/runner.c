/* runner.c: runs the unit tests listed in test-list.h.
 *
 *   unit_tests           runs every test in this process, stopping at the first failure
 *   unit_tests <name>    runs one test (what each ctest entry does, so one failure or
 *                        sanitizer report names its test)
 *   unit_tests --list    prints the names
 */
#include <stdio.h>
#include <string.h>

#define TEST_ENTRY(name) int run_test_##name(void);
#include "test-list.h"
#undef TEST_ENTRY

typedef struct test_entry {
    const char *name;
    int (*run)(void);
} test_entry;

static const test_entry TESTS[] = {
#define TEST_ENTRY(name) {#name, run_test_##name},
#include "test-list.h"
#undef TEST_ENTRY
};

#define TEST_COUNT (sizeof TESTS / sizeof TESTS[0])

static int run_one(const test_entry *t)
{
    int rc = t->run();
    printf("%s %s\n", rc == 0 ? "ok" : "FAIL", t->name);
    fflush(stdout);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < TEST_COUNT; i++)
            puts(TESTS[i].name);
        return 0;
    }
    if (argc == 2) {
        for (size_t i = 0; i < TEST_COUNT; i++)
            if (strcmp(argv[1], TESTS[i].name) == 0)
                return run_one(&TESTS[i]) == 0 ? 0 : 1;
        fprintf(stderr, "no test named %s (see --list)\n", argv[1]);
        return 2;
    }
    for (size_t i = 0; i < TEST_COUNT; i++)
        if (run_one(&TESTS[i]) != 0)
            return 1;
    printf("all %zu tests passed\n", TEST_COUNT);
    return 0;
}
