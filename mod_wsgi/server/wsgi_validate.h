/*
 * wsgi_validate.h: status line and header checks (wsgi_validate.c).
 *
 * Pure C on (pointer, length) pairs: no Python, no APR, no request_rec,
 * so the rules are unit tested and fuzzed on their own (tests/c/). Each
 * validator returns NULL when the input is valid, else a short static
 * reason that ends up in the error the application sees.
 */

#ifndef WSGI_VALIDATE_H
#define WSGI_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

/* A status line: 3 digits from 200 to 599, a space, a reason phrase;
 * *code gets the number. */
const char *wsgi_validate_status(const char *s, size_t len, int *code);
const char *wsgi_validate_header_name(const char *s, size_t len);
const char *wsgi_validate_header_value(const char *s, size_t len);

/* A NUL-terminated Content-Length value: 1 when valid (*out set), else
 * 0. */
int wsgi_parse_content_length(const char *s, int64_t *out);

#endif /* WSGI_VALIDATE_H */
