/*
 * Unit tests for the pure validators in wsgi_validate.c. Built and run by
 * tests/test_c_units.py; prints "N passed, M failed" and exits non-zero on
 * any failure.
 */

#include "wsgi_validate.h"

#include <string.h>

#include "check.h"

static void status_ok(const char *s, int want)
{
    int code = -1;
    const char *why = wsgi_validate_status(s, strlen(s), &code);

    CHECK(why == NULL && code == want, s);
}

static void status_bad(const char *s, size_t len)
{
    int code = -1;

    CHECK(wsgi_validate_status(s, len, &code) != NULL, s);
}

int main(void)
{
    int64_t n = -1;

    status_ok("200 OK", 200);
    status_ok("404 Not Found", 404);
    status_ok("599 Whatever", 599);
    status_ok("204 ", 204);        /* empty reason: RFC 9112 */
    status_ok("200 caf\xe9", 200); /* obs-text is allowed */
    status_bad("200", 3);
    status_bad("200OK", 5);
    status_bad("2000 OK", 7);
    status_bad("20x OK", 6);
    status_bad("099 Low", 7);
    status_bad("100 Continue", 12); /* interim, never final */
    status_bad("600 High", 8);
    status_bad("200 OK\r\nX-Evil: 1", 17);
    status_bad("200 OK\n", 7);
    status_bad("200 O\0K", 7);
    status_bad("200  OK", 7);
    status_bad("200 OK ", 7);
    status_bad(" 200 OK", 7);

    CHECK(wsgi_validate_header_name("Content-Type", 12) == NULL, "name");
    CHECK(wsgi_validate_header_name("X-A_b.c~!", 9) == NULL, "tchars");
    CHECK(wsgi_validate_header_name("", 0) != NULL, "empty name");
    CHECK(wsgi_validate_header_name("X A", 3) != NULL, "space in name");
    CHECK(wsgi_validate_header_name("X:A", 3) != NULL, "colon in name");
    CHECK(wsgi_validate_header_name("X\r\nA", 4) != NULL, "CRLF in name");
    CHECK(wsgi_validate_header_name("X\xe9", 2) != NULL, "8-bit in name");

    CHECK(wsgi_validate_header_value("text/html; a=b", 14) == NULL, "value");
    CHECK(wsgi_validate_header_value("", 0) == NULL, "empty value");
    CHECK(wsgi_validate_header_value("a\tb", 3) == NULL, "tab in value");
    CHECK(wsgi_validate_header_value("caf\xe9", 4) == NULL, "latin-1");
    CHECK(wsgi_validate_header_value("a\r\nb", 4) != NULL, "CRLF value");
    CHECK(wsgi_validate_header_value("a\nb", 3) != NULL, "LF value");
    CHECK(wsgi_validate_header_value("a\rb", 3) != NULL, "CR value");
    CHECK(wsgi_validate_header_value("a\0b", 3) != NULL, "NUL value");
    CHECK(wsgi_validate_header_value("a\x7f", 2) != NULL, "DEL value");
    CHECK(wsgi_validate_header_value("a\x01", 2) != NULL, "SOH value");

    CHECK(wsgi_parse_content_length("0", &n) && n == 0, "cl 0");
    CHECK(wsgi_parse_content_length("1234", &n) && n == 1234, "cl 1234");
    CHECK(wsgi_parse_content_length(" 12 ", &n) && n == 12, "cl spaces");
    CHECK(!wsgi_parse_content_length("", &n), "cl empty");
    CHECK(!wsgi_parse_content_length("-1", &n), "cl negative");
    CHECK(!wsgi_parse_content_length("12a", &n), "cl junk");
    CHECK(!wsgi_parse_content_length("1 2", &n), "cl two numbers");
    CHECK(!wsgi_parse_content_length("99999999999999999999999", &n),
          "cl overflow");

    return check_summary();
}
