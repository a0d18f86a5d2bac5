/* The tiny assertion helper of the C unit tests: counts, reports, and
 * lets main() print the "N passed, M failed" line. */

#ifndef WSGI_TEST_CHECK_H
#define WSGI_TEST_CHECK_H

#include <stdio.h>

static int passed, failed;

#define CHECK(cond, what)                                                      \
    do {                                                                       \
        if (cond)                                                              \
            passed++;                                                          \
        else {                                                                 \
            failed++;                                                          \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, what);              \
        }                                                                      \
    } while (0)

static int check_summary(void)
{
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}

#endif
