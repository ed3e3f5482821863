#include "core/clock.h"

#include <endian.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"

int64_t clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

int64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Eight bytes (first in the low byte) that are all ASCII digits. */
static inline bool eight_digits(uint64_t x)
{
    return ((x & 0xF0F0F0F0F0F0F0F0u) | (((x + 0x0606060606060606u) & 0xF0F0F0F0F0F0F0F0u) >> 4)) ==
           0x3333333333333333u;
}

/* Their value: pairs, then quads, then the eight, each step a multiply-add in lanes. */
static inline uint32_t eight_digits_value(uint64_t x)
{
    x = (x & 0x0F0F0F0F0F0F0F0Fu) * 2561 >> 8;
    x = (x & 0x00FF00FF00FF00FFu) * 6553601 >> 16;
    return (uint32_t)((x & 0x0000FFFF0000FFFFu) * 42949672960001u >> 32);
}

int clock_parse_int64(struct slice s, int64_t *out)
{
    const char *p = s.ptr, *end = s.ptr + s.len;
    bool neg = false;
    if (p < end && (*p == '-' || *p == '+')) {
        neg = *p == '-';
        p++;
    }
    if (p == end)
        return STRATA_EPARSE;
    while (p < end && *p == '0')
        p++;
    /* Up to 19 significant digits cannot overflow: no check but the digits', 8 at a time
     * (timestamps in nanoseconds have 19). */
    size_t n = (size_t)(end - p), fast = n < 19 ? n : 19;
    const char *stop = p + fast;
    uint64_t v = 0;
    for (; stop - p >= 8; p += 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        x = le64toh(x);
        if (!eight_digits(x))
            return STRATA_EPARSE;
        v = v * 100000000u + eight_digits_value(x);
    }
    for (; p < stop; p++) {
        if (!is_digit(*p))
            return STRATA_EPARSE;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (p < end) { /* a 20th significant digit may overflow; a 21st always does */
        unsigned d = (unsigned)(*p - '0');
        if (end - p > 1 || !is_digit(*p) || v > (UINT64_MAX - d) / 10)
            return STRATA_EPARSE;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return STRATA_EPARSE;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return STRATA_EPARSE;
        *out = (int64_t)v;
    }
    return 0;
}

int64_t clock_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool fixed_digits(const char *p, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    *out = v;
    return true;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

/* Seconds since the epoch of a date, with range checks; false if invalid. */
static bool date_secs(const char *p, int64_t *secs)
{
    unsigned y, m, d;
    if (!fixed_digits(p, 4, &y) || p[4] != '-' || !fixed_digits(p + 5, 2, &m) || p[7] != '-' ||
        !fixed_digits(p + 8, 2, &d))
        return false;
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return false;
    *secs = clock_days_from_civil(y, m, d) * 86400;
    return true;
}

/* 1678..2262 keeps seconds * 1e9 inside int64. */
static int secs_to_ns(int64_t secs, int64_t frac_ns, int64_t *ns)
{
    if (secs < INT64_MIN / NS_PER_SEC + 1 || secs > INT64_MAX / NS_PER_SEC - 1)
        return STRATA_EPARSE;
    *ns = secs * NS_PER_SEC + frac_ns;
    return 0;
}

int clock_parse_date(struct slice s, int64_t *ns)
{
    int64_t secs;
    if (s.len != 10 || !date_secs(s.ptr, &secs))
        return STRATA_EPARSE;
    return secs_to_ns(secs, 0, ns);
}

int clock_parse_rfc3339(struct slice s, int64_t *ns)
{
    const char *p = s.ptr;
    size_t n = s.len;
    int64_t secs;
    unsigned hh, mm, ss;
    if (n < 20 || !date_secs(p, &secs) || (p[10] != 'T' && p[10] != 't' && p[10] != ' '))
        return STRATA_EPARSE;
    if (!fixed_digits(p + 11, 2, &hh) || p[13] != ':' || !fixed_digits(p + 14, 2, &mm) ||
        p[16] != ':' || !fixed_digits(p + 17, 2, &ss) || hh > 23 || mm > 59 || ss > 60)
        return STRATA_EPARSE;
    size_t i = 19;
    int64_t frac = 0;
    if (i < n && p[i] == '.') {
        i++;
        size_t start = i;
        int64_t scale = 100000000;
        while (i < n && is_digit(p[i])) {
            if (i - start < 9) {
                frac += (p[i] - '0') * scale;
                scale /= 10;
            }
            i++;
        }
        if (i == start)
            return STRATA_EPARSE;
    }
    int64_t off = 0;
    if (i < n && (p[i] == 'Z' || p[i] == 'z')) {
        i++;
    } else if (i + 6 == n && (p[i] == '+' || p[i] == '-') && p[i + 3] == ':') {
        unsigned oh, om;
        if (!fixed_digits(p + i + 1, 2, &oh) || !fixed_digits(p + i + 4, 2, &om) || oh > 23 ||
            om > 59)
            return STRATA_EPARSE;
        off = (int64_t)(oh * 3600 + om * 60) * (p[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return STRATA_EPARSE;
    }
    if (i != n)
        return STRATA_EPARSE;
    return secs_to_ns(secs + hh * 3600 + mm * 60 + ss - off, frac, ns);
}

int clock_parse_loki_time(struct slice s, int64_t *ns)
{
    if (s.len == 0 || s.len > 64)
        return STRATA_EPARSE;
    if (memchr(s.ptr, '.', s.len)) {
        char tmp[65];
        memcpy(tmp, s.ptr, s.len);
        tmp[s.len] = '\0';
        char *end;
        double v = strtod(tmp, &end);
        if (end == tmp + s.len && isfinite(v)) {
            /* Loki: seconds, fraction rounded to milliseconds. */
            double secs = floor(v);
            double ms = round((v - secs) * 1000.0);
            if (secs < -9.2e9 || secs > 9.2e9)
                return STRATA_EPARSE;
            return secs_to_ns((int64_t)secs, (int64_t)ms * NS_PER_MS, ns);
        }
        return clock_parse_rfc3339(s, ns);
    }
    int64_t v;
    if (clock_parse_int64(s, &v) == 0) {
        size_t digits = s.len - (s.ptr[0] == '-' || s.ptr[0] == '+');
        if (digits <= 10)
            return secs_to_ns(v, 0, ns);
        *ns = v;
        return 0;
    }
    return clock_parse_rfc3339(s, ns);
}

int clock_parse_prom_duration(struct slice s, int64_t *ns)
{
    static const struct {
        const char *unit;
        int64_t mult;
    } units[] = {{"y", 365 * NS_PER_DAY}, {"w", 7 * NS_PER_DAY}, {"d", NS_PER_DAY},
                 {"h", NS_PER_HOUR},      {"ms", NS_PER_MS},     {"m", NS_PER_MIN},
                 {"s", NS_PER_SEC}};
    /* Units must appear in this order of size, each at most once. */
    static const int rank[] = {0, 1, 2, 3, 6, 4, 5};
    if (s.len == 1 && s.ptr[0] == '0') {
        *ns = 0;
        return 0;
    }
    if (s.len == 0)
        return STRATA_EPARSE;
    size_t i = 0;
    int64_t total = 0;
    int last_rank = -1;
    while (i < s.len) {
        if (!is_digit(s.ptr[i]))
            return STRATA_EPARSE;
        uint64_t v = 0;
        while (i < s.len && is_digit(s.ptr[i])) {
            v = v * 10 + (uint64_t)(s.ptr[i] - '0');
            if (v > (uint64_t)INT64_MAX / NS_PER_SEC)
                return STRATA_EPARSE;
            i++;
        }
        int u = -1;
        for (int k = 0; k < 7; k++) {
            size_t ul = strlen(units[k].unit);
            if (i + ul <= s.len && memcmp(s.ptr + i, units[k].unit, ul) == 0) {
                /* "m" must not swallow the "m" of "ms". */
                if (k == 5 && i + 1 < s.len && s.ptr[i + 1] == 's')
                    continue;
                u = k;
                i += ul;
                break;
            }
        }
        if (u < 0 || rank[u] <= last_rank)
            return STRATA_EPARSE;
        last_rank = rank[u];
        if (v > (uint64_t)(INT64_MAX - total) / (uint64_t)units[u].mult)
            return STRATA_EPARSE;
        total += (int64_t)v * units[u].mult;
    }
    *ns = total;
    return 0;
}

int clock_parse_go_duration(struct slice s, int64_t *ns)
{
    size_t i = 0;
    bool neg = false;
    if (i < s.len && (s.ptr[i] == '-' || s.ptr[i] == '+')) {
        neg = s.ptr[i] == '-';
        i++;
    }
    if (s.len - i == 1 && s.ptr[i] == '0') {
        *ns = 0;
        return 0;
    }
    if (i == s.len)
        return STRATA_EPARSE;
    double total = 0;
    while (i < s.len) {
        size_t start = i;
        double v = 0, scale = 1;
        bool dot = false, any = false;
        while (i < s.len && (is_digit(s.ptr[i]) || (s.ptr[i] == '.' && !dot))) {
            if (s.ptr[i] == '.') {
                dot = true;
            } else {
                any = true;
                if (dot) {
                    scale /= 10;
                    v += (s.ptr[i] - '0') * scale;
                } else {
                    v = v * 10 + (s.ptr[i] - '0');
                }
            }
            i++;
        }
        if (!any || i == start)
            return STRATA_EPARSE;
        double mult;
        if (i + 2 <= s.len && memcmp(s.ptr + i, "ns", 2) == 0) {
            mult = 1, i += 2;
        } else if (i + 2 <= s.len && memcmp(s.ptr + i, "us", 2) == 0) {
            mult = 1e3, i += 2;
        } else if (i + 3 <= s.len && memcmp(s.ptr + i, "\xc2\xb5s", 3) == 0) {
            mult = 1e3, i += 3;
        } else if (i + 2 <= s.len && memcmp(s.ptr + i, "ms", 2) == 0) {
            mult = 1e6, i += 2;
        } else if (i < s.len && s.ptr[i] == 's') {
            mult = 1e9, i += 1;
        } else if (i < s.len && s.ptr[i] == 'm') {
            mult = 60e9, i += 1;
        } else if (i < s.len && s.ptr[i] == 'h') {
            mult = 3600e9, i += 1;
        } else {
            return STRATA_EPARSE;
        }
        total += v * mult;
        if (total > 9.2e18)
            return STRATA_EPARSE;
    }
    *ns = (int64_t)llround(neg ? -total : total);
    return 0;
}

int clock_parse_step(struct slice s, int64_t *ns)
{
    if (s.len == 0 || s.len > 64)
        return STRATA_EPARSE;
    char tmp[65];
    memcpy(tmp, s.ptr, s.len);
    tmp[s.len] = '\0';
    char *end;
    double v = strtod(tmp, &end);
    if (end == tmp + s.len && isfinite(v)) {
        if (fabs(v) > 9.2e9)
            return STRATA_EPARSE;
        *ns = (int64_t)llround(v * 1e9);
        return 0;
    }
    return clock_parse_prom_duration(s, ns);
}

size_t clock_format_rfc3339(int64_t ns, char *out)
{
    int64_t secs = ns / NS_PER_SEC, frac = ns % NS_PER_SEC;
    if (frac < 0) {
        frac += NS_PER_SEC;
        secs--;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int n = snprintf(out, 36, "%04lld-%02u-%02uT%02d:%02d:%02d", (long long)y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    if (frac) {
        char f[16];
        snprintf(f, sizeof(f), "%09lld", (long long)frac);
        int fl = 9;
        while (fl > 0 && f[fl - 1] == '0')
            fl--;
        out[n++] = '.';
        memcpy(out + n, f, (size_t)fl);
        n += fl;
    }
    out[n++] = 'Z';
    out[n] = '\0';
    return (size_t)n;
}

size_t clock_format_duration(int64_t ns, char *out, size_t cap)
{
    /* Go's Duration.String: "0s", "1.5s", "1m30s", "1h0m0s", sub-second as ms/µs/ns. */
    char tmp[64];
    size_t n = 0;
    uint64_t u = ns < 0 ? (uint64_t)(-(ns + 1)) + 1 : (uint64_t)ns;
    bool neg = ns < 0;
    if (u == 0) {
        n = (size_t)snprintf(tmp, sizeof(tmp), "0s");
    } else if (u < (uint64_t)NS_PER_SEC) {
        const char *unit;
        uint64_t div;
        if (u < 1000) {
            unit = "ns", div = 1;
        } else if (u < 1000000) {
            unit = "\xc2\xb5s", div = 1000;
        } else {
            unit = "ms", div = 1000000;
        }
        n = (size_t)snprintf(tmp, sizeof(tmp), "%s%llu", neg ? "-" : "",
                             (unsigned long long)(u / div));
        uint64_t fr = u % div;
        if (fr) {
            char f[16];
            int w = div == 1000 ? 3 : 6;
            snprintf(f, sizeof(f), "%0*llu", w, (unsigned long long)fr);
            int fl = w;
            while (fl > 0 && f[fl - 1] == '0')
                fl--;
            n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, ".%.*s", fl, f);
        }
        n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, "%s", unit);
    } else {
        uint64_t secs = u / NS_PER_SEC, fr = u % NS_PER_SEC;
        uint64_t h = secs / 3600, m = secs / 60 % 60, s = secs % 60;
        char sec[32];
        if (fr) {
            char f[16];
            snprintf(f, sizeof(f), "%09llu", (unsigned long long)fr);
            int fl = 9;
            while (fl > 0 && f[fl - 1] == '0')
                fl--;
            snprintf(sec, sizeof(sec), "%llu.%.*ss", (unsigned long long)s, fl, f);
        } else {
            snprintf(sec, sizeof(sec), "%llus", (unsigned long long)s);
        }
        if (h)
            n = (size_t)snprintf(tmp, sizeof(tmp), "%s%lluh%llum%s", neg ? "-" : "",
                                 (unsigned long long)h, (unsigned long long)m, sec);
        else if (m)
            n = (size_t)snprintf(tmp, sizeof(tmp), "%s%llum%s", neg ? "-" : "",
                                 (unsigned long long)m, sec);
        else
            n = (size_t)snprintf(tmp, sizeof(tmp), "%s%s", neg ? "-" : "", sec);
    }
    if (cap) {
        size_t c = n < cap - 1 ? n : cap - 1;
        memcpy(out, tmp, c);
        out[c] = '\0';
        return c;
    }
    return n;
}
