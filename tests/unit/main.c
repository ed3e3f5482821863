/* The unit test runner: every TEST() in tests/unit, in file order. */
#include <stdlib.h>

#include "test.h"

struct test_entry {
    const char *name, *file;
    void (*fn)(void);
    size_t seq;
};

static struct test_entry *tests;
static size_t n_tests, cap_tests;
bool test_failed;

void test_register(const char *name, void (*fn)(void), const char *file)
{
    if (n_tests == cap_tests) {
        cap_tests = cap_tests ? cap_tests * 2 : 64;
        tests = realloc(tests, cap_tests * sizeof(*tests));
        if (!tests)
            abort();
    }
    tests[n_tests] = (struct test_entry){name, file, fn, n_tests};
    n_tests++;
}

void test_fail_at(const char *file, int line)
{
    test_failed = true;
    fprintf(stderr, "  %s:%d: assertion failed\n", file, line);
}

static int by_file(const void *a, const void *b)
{
    const struct test_entry *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

int main(int argc, char **argv)
{
    /* Constructors run in link order within a file but not across files: sort for stability. */
    qsort(tests, n_tests, sizeof(*tests), by_file);
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n_tests; i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1]) && !strstr(tests[i].file, argv[1]))
            continue;
        test_failed = false;
        tests[i].fn();
        if (test_failed) {
            failed++;
            printf("FAIL %s (%s)\n", tests[i].name, tests[i].file);
        } else {
            passed++;
            printf("ok   %s\n", tests[i].name);
        }
    }
    free(tests);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
