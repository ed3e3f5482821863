/*
 * test.h - the unit test harness.
 *
 * A test is a function declared with TEST(name); it registers itself in the
 * harness' table at start-up (no central list to edit). ASSERT_* macros print
 * both values on failure, mark the test failed and return from it. The run
 * ends with one line: "N passed, N failed".
 *
 *     TEST(buf_append_respects_max) {
 *         struct buf b; buf_init(&b, 4);
 *         ASSERT_EQ_INT(buf_append(&b, "abcde", 5), STRATA_ETOOLARGE);
 *         buf_release(&b);
 *     }
 *
 * Run all: build-san/unit-tests; only some: build-san/unit-tests <substring>.
 */
#ifndef STRATA_TEST_H
#define STRATA_TEST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void test_register(const char *name, void (*fn)(void), const char *file);
/* Set by the ASSERT macros; read by the runner. */
extern bool test_failed;
void test_fail_at(const char *file, int line);

#define TEST(name)                                                      \
    static void test_##name(void);                                      \
    __attribute__((constructor)) static void test_register_##name(void) \
    {                                                                   \
        test_register(#name, test_##name, __FILE__);                    \
    }                                                                   \
    static void test_##name(void)

#define ASSERT_TRUE(cond)                                      \
    do {                                                       \
        if (!(cond)) {                                         \
            test_fail_at(__FILE__, __LINE__);                  \
            fprintf(stderr, "    expected true: %s\n", #cond); \
            return;                                            \
        }                                                      \
    } while (0)

#define ASSERT_FALSE(cond) ASSERT_TRUE(!(cond))

#define ASSERT_EQ_INT(a, b)                                                                      \
    do {                                                                                         \
        long long a_ = (long long)(a), b_ = (long long)(b);                                      \
        if (a_ != b_) {                                                                          \
            test_fail_at(__FILE__, __LINE__);                                                    \
            fprintf(stderr, "    %s == %s\n    left:  %lld\n    right: %lld\n", #a, #b, a_, b_); \
            return;                                                                              \
        }                                                                                        \
    } while (0)

#define ASSERT_EQ_UINT(a, b)                                                                      \
    do {                                                                                          \
        unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);            \
        if (a_ != b_) {                                                                           \
            test_fail_at(__FILE__, __LINE__);                                                     \
            fprintf(stderr, "    %s == %s\n    left:  %llu (0x%llx)\n    right: %llu (0x%llx)\n", \
                    #a, #b, a_, a_, b_, b_);                                                      \
            return;                                                                               \
        }                                                                                         \
    } while (0)

#define ASSERT_EQ_STR(a, b)                                                                 \
    do {                                                                                    \
        const char *a_ = (a), *b_ = (b);                                                    \
        if (!a_ || !b_ || strcmp(a_, b_)) {                                                 \
            test_fail_at(__FILE__, __LINE__);                                               \
            fprintf(stderr, "    %s == %s\n    left:  \"%s\"\n    right: \"%s\"\n", #a, #b, \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                \
            return;                                                                         \
        }                                                                                   \
    } while (0)

/* A struct slice against a C string. */
#define ASSERT_EQ_SLICE(s, str)                                                                 \
    do {                                                                                        \
        struct slice s_ = (s);                                                                  \
        const char *b_ = (str);                                                                 \
        if (s_.len != strlen(b_) || (s_.len && memcmp(s_.ptr, b_, s_.len))) {                   \
            test_fail_at(__FILE__, __LINE__);                                                   \
            fprintf(stderr, "    %s == %s\n    left:  \"%.*s\"\n    right: \"%s\"\n", #s, #str, \
                    (int)s_.len, s_.ptr, b_);                                                   \
            return;                                                                             \
        }                                                                                       \
    } while (0)

#define ASSERT_NEAR(a, b, eps)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(a_ - b_ <= (eps) && b_ - a_ <= (eps))) {                                             \
            test_fail_at(__FILE__, __LINE__);                                                      \
            fprintf(stderr, "    %s ~= %s\n    left:  %.17g\n    right: %.17g\n", #a, #b, a_, b_); \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#endif
