/*
 * wsgi_proto.c: the daemon-mode wire codec; see wsgi_proto.h for the
 * format. Nothing here allocates: decoders return pointers into the
 * caller's buffer after checking every length against what is left of
 * it, so a hostile or truncated frame can at worst be refused.
 *
 * The one file that does not include wsgi_common.h: it must build with
 * nothing but a C compiler, for the unit tests and the fuzzer.
 */

#include "wsgi_proto.h"

#include <string.h>

static void wsgi_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t wsgi_get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void wsgi_put64(unsigned char *p, uint64_t v)
{
    wsgi_put32(p, (uint32_t)(v >> 32));
    wsgi_put32(p + 4, (uint32_t)v);
}

static uint64_t wsgi_get64(const unsigned char *p)
{
    return ((uint64_t)wsgi_get32(p) << 32) | wsgi_get32(p + 4);
}

void wsgi_proto_put_file(unsigned char out[WSGI_PROTO_FILE_SIZE],
                         uint64_t offset, uint64_t length)
{
    wsgi_put64(out, offset);
    wsgi_put64(out + 8, length);
}

int wsgi_proto_get_file(const unsigned char *in, size_t len, uint64_t *offset,
                        uint64_t *length)
{
    const uint64_t max = (uint64_t)INT64_MAX;
    int rc = WSGI_PROTO_MALFORMED;

    if (len == WSGI_PROTO_FILE_SIZE) {
        *offset = wsgi_get64(in);
        *length = wsgi_get64(in + 8);
        if (*offset <= max && *length <= max - *offset)
            rc = WSGI_PROTO_OK;
    }
    return rc;
}

void wsgi_proto_put_head(unsigned char out[WSGI_PROTO_HEAD_SIZE], int type,
                         uint32_t length)
{
    out[0] = WSGI_PROTO_MAGIC0;
    out[1] = WSGI_PROTO_MAGIC1;
    out[2] = WSGI_PROTO_VERSION;
    out[3] = (unsigned char)type;
    wsgi_put32(out + 4, length);
}

int wsgi_proto_get_head(const unsigned char *in, size_t len,
                        uint32_t max_payload, wsgi_frame_head *head)
{
    int rc = WSGI_PROTO_OK;

    if (max_payload > WSGI_PROTO_MAX_PAYLOAD)
        max_payload = WSGI_PROTO_MAX_PAYLOAD;
    if (len < WSGI_PROTO_HEAD_SIZE)
        rc = WSGI_PROTO_SHORT;
    else if (in[0] != WSGI_PROTO_MAGIC0 || in[1] != WSGI_PROTO_MAGIC1)
        rc = WSGI_PROTO_BAD_MAGIC;
    else if (in[2] != WSGI_PROTO_VERSION)
        rc = WSGI_PROTO_BAD_VERSION;
    else if (in[3] < 1 || in[3] > WSGI_FRAME_MAX)
        rc = WSGI_PROTO_BAD_TYPE;
    else if (wsgi_get32(in + 4) > max_payload)
        rc = WSGI_PROTO_TOO_BIG;
    else {
        head->type = in[3];
        head->length = wsgi_get32(in + 4);
    }
    return rc;
}

size_t wsgi_proto_pairs_size(const wsgi_pair *pairs, int n)
{
    size_t total = 4;
    int i;

    if (n < 0)
        return 0;
    for (i = 0; i < n; i++) {
        if (pairs[i].name_len > WSGI_PROTO_MAX_PAYLOAD ||
            pairs[i].value_len > WSGI_PROTO_MAX_PAYLOAD)
            return 0;
        total += 8 + (size_t)pairs[i].name_len + pairs[i].value_len;
        if (total > WSGI_PROTO_MAX_PAYLOAD)
            return 0;
    }
    return total;
}

long wsgi_proto_put_pairs(unsigned char *out, size_t cap,
                          const wsgi_pair *pairs, int n)
{
    size_t need = wsgi_proto_pairs_size(pairs, n), at = 4;
    int i;

    if (need == 0)
        return WSGI_PROTO_TOO_BIG;
    if (need > cap)
        return WSGI_PROTO_NO_ROOM;
    wsgi_put32(out, (uint32_t)n);
    for (i = 0; i < n; i++) {
        wsgi_put32(out + at, pairs[i].name_len);
        memcpy(out + at + 4, pairs[i].name, pairs[i].name_len);
        at += 4 + pairs[i].name_len;
        wsgi_put32(out + at, pairs[i].value_len);
        memcpy(out + at + 4, pairs[i].value, pairs[i].value_len);
        at += 4 + pairs[i].value_len;
    }
    return (long)at;
}

/* Takes one length-prefixed string at *at; checks it lies in the buffer. */
static int wsgi_take(const unsigned char *in, size_t len, size_t *at,
                     const char **s, uint32_t *slen)
{
    uint32_t n;

    if (len - *at < 4)
        return WSGI_PROTO_MALFORMED;
    n = wsgi_get32(in + *at);
    *at += 4;
    if (n > len - *at)
        return WSGI_PROTO_MALFORMED;
    *s = (const char *)in + *at;
    *slen = n;
    *at += n;
    return WSGI_PROTO_OK;
}

int wsgi_proto_get_pairs(const unsigned char *in, size_t len, wsgi_pair *pairs,
                         int max, int *n)
{
    size_t at = 4;
    uint32_t count, i;
    int rc = WSGI_PROTO_OK;

    *n = 0;
    if (len < 4)
        return WSGI_PROTO_MALFORMED;
    count = wsgi_get32(in);
    /* Each pair takes at least 8 bytes: a count the payload cannot hold
     * is refused before any loop runs on it. */
    if (count > (len - 4) / 8)
        return WSGI_PROTO_MALFORMED;
    if (max < 0 || count > (uint32_t)max)
        return WSGI_PROTO_NO_ROOM;
    for (i = 0; i < count && rc == WSGI_PROTO_OK; i++) {
        rc = wsgi_take(in, len, &at, &pairs[i].name, &pairs[i].name_len);
        if (rc == WSGI_PROTO_OK)
            rc = wsgi_take(in, len, &at, &pairs[i].value, &pairs[i].value_len);
    }
    if (rc == WSGI_PROTO_OK && at != len)
        rc = WSGI_PROTO_MALFORMED; /* trailing bytes */
    if (rc == WSGI_PROTO_OK)
        *n = (int)count;
    return rc;
}

void wsgi_proto_put_hello(unsigned char out[WSGI_PROTO_HELLO_SIZE],
                          uint32_t pid)
{
    wsgi_put32(out, pid);
}

int wsgi_proto_get_hello(const unsigned char *in, size_t len, uint32_t *pid)
{
    int rc = WSGI_PROTO_MALFORMED;

    if (len == WSGI_PROTO_HELLO_SIZE) {
        *pid = wsgi_get32(in);
        /* No process has pid 0, and a pid is a positive int. */
        if (*pid > 0 && *pid <= (uint32_t)INT32_MAX)
            rc = WSGI_PROTO_OK;
    }
    return rc;
}

/* Indexed by enum wsgi_proto_control. */
static const struct {
    const char *name;
    uint32_t len;
} wsgi_controls[] = {
    {"",                 0 },
    {":status",          7 },
    {":error",           6 },
    {":restart",         8 },
    {":request_start",   14},
    {":ignore_activity", 16},
    {":fspath",          7 },
};

#define WSGI_NCONTROLS (sizeof(wsgi_controls) / sizeof(wsgi_controls[0]))

void wsgi_proto_control(wsgi_pair *pair, int kind, const char *value,
                        uint32_t value_len)
{
    if (kind <= WSGI_CTL_NONE || (size_t)kind >= WSGI_NCONTROLS)
        kind = WSGI_CTL_NONE;
    pair->name = wsgi_controls[kind].name;
    pair->name_len = wsgi_controls[kind].len;
    pair->value = value;
    pair->value_len = value_len;
}

int wsgi_proto_control_of(const wsgi_pair *pair)
{
    size_t k;
    int kind = WSGI_CTL_NONE;

    if (pair->name_len > 0 && pair->name[0] == ':') {
        kind = WSGI_CTL_UNKNOWN;
        for (k = 1; k < WSGI_NCONTROLS; k++) {
            if (pair->name_len == wsgi_controls[k].len &&
                !memcmp(pair->name, wsgi_controls[k].name, pair->name_len)) {
                kind = (int)k;
                break;
            }
        }
    }
    return kind;
}

uint32_t wsgi_proto_put_number(char *out, uint64_t v)
{
    char tmp[21];
    uint32_t n = 0, i;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

int wsgi_proto_get_number(const char *s, uint32_t len, uint64_t *v)
{
    uint32_t i;
    int rc = WSGI_PROTO_OK;

    /* 19 digits always fit in 64 bits; no sign, no space, no overflow to
     * think about. */
    if (len == 0 || len > 19)
        rc = WSGI_PROTO_MALFORMED;
    *v = 0;
    for (i = 0; i < len && rc == WSGI_PROTO_OK; i++) {
        if (s[i] < '0' || s[i] > '9')
            rc = WSGI_PROTO_MALFORMED;
        else
            *v = *v * 10 + (uint64_t)(s[i] - '0');
    }
    return rc;
}

long wsgi_proto_put_reply(unsigned char *out, size_t cap, int status)
{
    char code[21];
    wsgi_pair pair;

    if (status == 0)
        wsgi_proto_control(&pair, WSGI_CTL_RESTART, "", 0);
    else if (status < 400 || status > 599)
        return WSGI_PROTO_MALFORMED;
    else
        wsgi_proto_control(&pair, WSGI_CTL_ERROR, code,
                           wsgi_proto_put_number(code, (uint64_t)status));
    return wsgi_proto_put_pairs(out, cap, &pair, 1);
}

int wsgi_proto_get_error(const wsgi_pair *pair, int *status)
{
    uint64_t v;
    int rc = WSGI_PROTO_MALFORMED;

    if (wsgi_proto_control_of(pair) == WSGI_CTL_ERROR &&
        wsgi_proto_get_number(pair->value, pair->value_len, &v) ==
            WSGI_PROTO_OK &&
        v >= 400 && v <= 599) {
        *status = (int)v;
        rc = WSGI_PROTO_OK;
    }
    return rc;
}

int wsgi_proto_get_cstrings(unsigned char *in, size_t len, wsgi_pair *pairs,
                            int max, int *n)
{
    int rc = wsgi_proto_get_pairs(in, len, pairs, max, n), i;

    for (i = 0; rc == WSGI_PROTO_OK && i < *n; i++) {
        if (memchr(pairs[i].name, '\0', pairs[i].name_len) ||
            memchr(pairs[i].value, '\0', pairs[i].value_len))
            rc = WSGI_PROTO_MALFORMED;
    }
    /* Only once every string was checked: the terminators overwrite
     * bytes of the length fields the checks above no longer need. */
    for (i = 0; rc == WSGI_PROTO_OK && i < *n; i++) {
        in[pairs[i].name - (const char *)in + pairs[i].name_len] = '\0';
        in[pairs[i].value - (const char *)in + pairs[i].value_len] = '\0';
    }
    if (rc != WSGI_PROTO_OK)
        *n = 0;
    return rc;
}

const char *wsgi_proto_strerror(int status)
{
    switch (status) {
    case WSGI_PROTO_OK:
        return "ok";
    case WSGI_PROTO_SHORT:
        return "truncated frame";
    case WSGI_PROTO_BAD_MAGIC:
        return "not a mod_wsgi frame (bad magic)";
    case WSGI_PROTO_BAD_VERSION:
        return "unsupported protocol version";
    case WSGI_PROTO_BAD_TYPE:
        return "unknown frame type";
    case WSGI_PROTO_TOO_BIG:
        return "frame larger than allowed";
    case WSGI_PROTO_MALFORMED:
        return "malformed frame payload";
    case WSGI_PROTO_NO_ROOM:
        return "too many entries or too little room";
    default:
        return "unknown error";
    }
}
