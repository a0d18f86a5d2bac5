/*
 * wsgi_validate.c: status line and header checks; see wsgi_validate.h.
 *
 * Like wsgi_proto.c, it does not include wsgi_common.h: it must build
 * with nothing but a C compiler, for the unit tests and the fuzzer.
 */

#include "wsgi_validate.h"

#include <string.h>

/* RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
 * "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static int wsgi_is_tchar(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return 1;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 9110 5.5: field-value octets are VCHAR, SP, HTAB or obs-text; a
 * CR, LF or NUL would let an application split the response. */
static int wsgi_is_field_octet(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/*
 * PEP 3333: "The status argument is an HTTP 'status' string like '200 OK'
 * ... a status code and a reason phrase, in that order and separated by a
 * single space, with no surrounding whitespace or other characters."
 * RFC 9112 4 allows an empty reason phrase; the code must be 3 digits, and
 * a 1xx can never be a final response.
 */
const char *wsgi_validate_status(const char *s, size_t len, int *code)
{
    size_t i;

    if (len < 4 || s[3] != ' ')
        return "status must be a 3-digit code, a space and a reason "
               "phrase, e.g. '200 OK'";
    for (i = 0; i < 3; i++) {
        if (s[i] < '0' || s[i] > '9')
            return "status code must be 3 digits, e.g. '200 OK'";
    }
    *code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    if (*code < 200 || *code > 599)
        return "status code must be from 200 to 599 (1xx codes are "
               "interim responses that Apache sends itself)";
    for (i = 4; i < len; i++) {
        if (!wsgi_is_field_octet((unsigned char)s[i]) || s[i] == '\t')
            return "status reason phrase contains a control character "
                   "(CR, LF, NUL...)";
    }
    if (len > 4 && (s[4] == ' ' || s[len - 1] == ' '))
        return "status must have no surrounding whitespace";
    return NULL;
}

const char *wsgi_validate_header_name(const char *s, size_t len)
{
    size_t i;

    if (len == 0)
        return "header name is empty";
    for (i = 0; i < len; i++) {
        if (!wsgi_is_tchar((unsigned char)s[i]))
            return (s[i] == '\r' || s[i] == '\n')
                       ? "header name contains CR or LF"
                       : "header name contains a character not allowed "
                         "in a field name (RFC 9110 token)";
    }
    return NULL;
}

const char *wsgi_validate_header_value(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\r' || c == '\n')
            return "header value contains CR or LF";
        if (!wsgi_is_field_octet(c))
            return "header value contains a control character";
    }
    return NULL;
}

/* RFC 9110 8.6: Content-Length = 1*DIGIT. Returns 1 when valid. */
int wsgi_parse_content_length(const char *s, int64_t *out)
{
    int64_t v = 0;
    const char *p = s;

    while (*p == ' ' || *p == '\t')
        p++;
    if (!(*p >= '0' && *p <= '9'))
        return 0;
    for (; (*p >= '0' && *p <= '9'); p++) {
        if (v > (INT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (*p - '0');
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p)
        return 0;
    *out = v;
    return 1;
}
