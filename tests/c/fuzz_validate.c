/*
 * libFuzzer target for the response checks of wsgi_validate.c (make fuzz
 * builds and runs it). What a validator accepts must hold what the RFCs
 * allow and nothing else: a status from 200 to 599, no CR, LF or NUL in
 * a name or value, a Content-Length that is digits only.
 */

#include "wsgi_validate.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char *z;
    int64_t clen = -1;
    int code = 0;
    size_t i;

    if (wsgi_validate_status(s, size, &code) == NULL &&
        (code < 200 || code > 599 || size < 4 || data[3] != ' ' ||
         memchr(s, '\r', size) || memchr(s, '\n', size) ||
         memchr(s, '\0', size)))
        abort();
    if (wsgi_validate_header_name(s, size) == NULL) {
        if (size == 0)
            abort();
        for (i = 0; i < size; i++) {
            if (data[i] <= ' ' || data[i] >= 0x7f || data[i] == ':')
                abort();
        }
    }
    if (wsgi_validate_header_value(s, size) == NULL &&
        (memchr(s, '\r', size) || memchr(s, '\n', size) ||
         memchr(s, '\0', size)))
        abort();
    /* Content-Length takes a C string. */
    z = malloc(size + 1);
    if (z == NULL)
        return 0;
    memcpy(z, data, size);
    z[size] = '\0';
    if (wsgi_parse_content_length(z, &clen)) {
        if (clen < 0)
            abort();
        for (i = 0; z[i]; i++) {
            if (!(z[i] >= '0' && z[i] <= '9') && z[i] != ' ' && z[i] != '\t')
                abort();
        }
    }
    free(z);
    return 0;
}
