#include "remote/clickhouse_http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/gzip.h"
#include "store/tier.h"

#define IDLE_HANDLES 8
/* The most of an error answer that is kept to build a message. */
#define ERROR_BODY_MAX (64 * 1024)

struct clickhouse_http {
    char *url, *user, *password;
    long timeout_ms, connect_timeout_ms;
    pthread_mutex_t lock;
    CURL *idle[IDLE_HANDLES];
    int n_idle;
    uint64_t requests, bytes_out, bytes_in; /* atomics */
};

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static int global_users;

struct clickhouse_http *clickhouse_http_new(const struct clickhouse_config *c)
{
    pthread_mutex_lock(&global_lock);
    if (global_users++ == 0)
        curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_mutex_unlock(&global_lock);
    struct clickhouse_http *h = xcalloc(1, sizeof(*h));
    h->url = xstrdup(c->url);
    h->user = xstrdup(c->user ? c->user : "");
    h->password = xstrdup(c->password ? c->password : "");
    h->timeout_ms = (long)(c->timeout_ns / NS_PER_MS);
    h->connect_timeout_ms = h->timeout_ms < 10000 ? h->timeout_ms : 10000;
    pthread_mutex_init(&h->lock, NULL);
    return h;
}

void clickhouse_http_free(struct clickhouse_http *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->n_idle; i++)
        curl_easy_cleanup(h->idle[i]);
    pthread_mutex_destroy(&h->lock);
    free(h->url);
    free(h->user);
    if (h->password)
        memset(h->password, 0, strlen(h->password));
    free(h->password);
    free(h);
    pthread_mutex_lock(&global_lock);
    if (--global_users == 0)
        curl_global_cleanup();
    pthread_mutex_unlock(&global_lock);
}

void clickhouse_http_counters(struct clickhouse_http *h, uint64_t *requests, uint64_t *bytes_out,
                              uint64_t *bytes_in)
{
    *requests = __atomic_load_n(&h->requests, __ATOMIC_RELAXED);
    *bytes_out = __atomic_load_n(&h->bytes_out, __ATOMIC_RELAXED);
    *bytes_in = __atomic_load_n(&h->bytes_in, __ATOMIC_RELAXED);
}

/* A handle from the pool (keeps its connection alive), or a new one. */
static CURL *handle_get(struct clickhouse_http *h)
{
    CURL *c = NULL;
    pthread_mutex_lock(&h->lock);
    if (h->n_idle > 0)
        c = h->idle[--h->n_idle];
    pthread_mutex_unlock(&h->lock);
    if (c)
        curl_easy_reset(c);
    else
        c = curl_easy_init();
    return c;
}

static void handle_put(struct clickhouse_http *h, CURL *c, bool reusable)
{
    if (reusable) {
        pthread_mutex_lock(&h->lock);
        if (h->n_idle < IDLE_HANDLES) {
            h->idle[h->n_idle++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&h->lock);
    }
    if (c)
        curl_easy_cleanup(c);
}

/* ---- errors ---------------------------------------------------------------- */

bool clickhouse_code_retryable(int code)
{
    switch (code) {
    case 159: /* TIMEOUT_EXCEEDED */
    case 160: /* TOO_SLOW */
    case 202: /* TOO_MANY_SIMULTANEOUS_QUERIES */
    case 203: /* NO_FREE_CONNECTION */
    case 209: /* SOCKET_TIMEOUT */
    case 210: /* NETWORK_ERROR */
    case 236: /* ABORTED */
    case 241: /* MEMORY_LIMIT_EXCEEDED */
    case 242: /* TABLE_IS_READ_ONLY */
    case 252: /* TOO_MANY_PARTS */
    case 285: /* TOO_FEW_LIVE_REPLICAS */
    case 319: /* UNKNOWN_STATUS_OF_INSERT */
    case 394: /* QUERY_WAS_CANCELLED */
    case 425: /* SYSTEM_ERROR */
    case 999: /* KEEPER_EXCEPTION */
    case 1000: /* POCO_EXCEPTION: connection reset and the like */ return true;
    default: return false;
    }
}

static bool code_is_auth(int code)
{
    return code == 192 || code == 193 || code == 194 || code == 195 || code == 497 || code == 516;
}

void clickhouse_parse_exception(struct slice body, int *code, char *msg, size_t cap)
{
    *code = 0;
    if (!cap)
        return;
    msg[0] = '\0';
    const char *p = body.ptr, *end = body.ptr + body.len;
    /* Skip leading whitespace; the message is on the first non-empty line. */
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (eol)
        end = eol;
    if (end - p > 6 && !memcmp(p, "Code: ", 6)) {
        const char *q = p + 6;
        int v = 0;
        while (q < end && *q >= '0' && *q <= '9' && v < 100000)
            v = v * 10 + (*q++ - '0');
        *code = v;
        static const char ex[] = "DB::Exception: ";
        for (const char *s = q; s + sizeof(ex) - 1 <= end; s++)
            if (!memcmp(s, ex, sizeof(ex) - 1)) {
                p = s + sizeof(ex) - 1;
                break;
            }
        /* Cut the old ", e.what() = ..." tail and the new " (NAME) (version ...)" tail. */
        static const char what[] = ", e.what() = ";
        for (const char *s = p; s + sizeof(what) - 1 <= end; s++)
            if (!memcmp(s, what, sizeof(what) - 1)) {
                end = s;
                break;
            }
        static const char ver[] = " (version ";
        for (const char *s = p; s + sizeof(ver) - 1 <= end; s++)
            if (!memcmp(s, ver, sizeof(ver) - 1)) {
                end = s;
                break;
            }
    }
    while (end > p && (end[-1] == ' ' || end[-1] == '\r' || end[-1] == '.'))
        end--;
    size_t n = (size_t)(end - p);
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        msg[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    msg[n] = '\0';
}

static void set_error(struct clickhouse_error *e, int rc, bool retryable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_error(struct clickhouse_error *e, int rc, bool retryable, const char *fmt, ...)
{
    e->rc = rc;
    e->retryable = retryable;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

static void curl_failure(struct clickhouse_http *h, CURLcode cc, const char *errbuf,
                         struct clickhouse_error *e)
{
    const char *what = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        set_error(e, STRATA_ETIMEOUT, true, "ClickHouse at %s: no answer within %ldms (%s)", h->url,
                  h->timeout_ms, what);
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
        set_error(e, STRATA_EUNAVAIL, true, "ClickHouse at %s is unreachable: %s", h->url, what);
        break;
    case CURLE_WRITE_ERROR:
        set_error(e, STRATA_ETOOLARGE, false, "ClickHouse at %s: the answer is too large", h->url);
        break;
    case CURLE_ABORTED_BY_CALLBACK:
        set_error(e, STRATA_ECANCELED, false, "ClickHouse at %s: request canceled", h->url);
        break;
    default: set_error(e, STRATA_EUNAVAIL, false, "ClickHouse at %s: %s", h->url, what); break;
    }
}

static void http_failure(struct clickhouse_http *h, long status, struct slice body,
                         struct clickhouse_error *e)
{
    char msg[768];
    int code;
    clickhouse_parse_exception(body, &code, msg, sizeof(msg));
    e->code = code;
    bool retryable = clickhouse_code_retryable(code) || status == 502 || status == 503 ||
                     status == 504 || (code == 0 && status >= 500 && status != 501);
    int rc = retryable || code_is_auth(code) || status == 401 || status == 403 ? STRATA_EUNAVAIL
                                                                               : STRATA_EINTERNAL;
    if (code)
        set_error(e, rc, retryable, "ClickHouse at %s: Code %d: %s", h->url, code, msg);
    else
        set_error(e, rc, retryable, "ClickHouse at %s: HTTP %ld: %s", h->url, status,
                  msg[0] ? msg : "(no message)");
}

/* ---- one request ----------------------------------------------------------- */

struct sink {
    struct buf *dst;
    bool overflow;
    bool discard_overflow; /* an error body: keep the start, drop the rest */
    uint64_t bytes;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;
    s->bytes += len;
    if (s->overflow)
        return s->discard_overflow ? len : 0;
    if (buf_append(s->dst, p, len) < 0) {
        s->overflow = true;
        return s->discard_overflow ? len : 0;
    }
    return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const volatile int *cancel = arg;
    return tier_cancelled(cancel) ? 1 : 0;
}

/* Append key=value to a query string, URL-encoding the value. */
static int add_param(CURL *c, struct buf *qs, const char *key, const char *value)
{
    char *enc = curl_easy_escape(c, value, 0);
    if (!enc)
        return STRATA_EINTERNAL;
    int rc = buf_printf(qs, "%s%s=%s", qs->len ? "&" : "", key, enc);
    curl_free(enc);
    return rc;
}

int clickhouse_http_run(struct clickhouse_http *h, const struct clickhouse_request *r,
                        struct clickhouse_error *e_out)
{
    struct clickhouse_error e_local;
    struct clickhouse_error *e = e_out ? e_out : &e_local;
    memset(e, 0, sizeof(*e));
    struct buf url, gz, scratch;
    buf_init(&url, 64 << 20);
    buf_init(&gz, (size_t)1 << 34);
    buf_init(&scratch, ERROR_BODY_MAX);
    struct curl_slist *headers = NULL;
    bool reusable = false;
    int rc = 0;
    CURL *c = handle_get(h);
    if (!c) {
        set_error(e, STRATA_EINTERNAL, false, "ClickHouse at %s: cannot create a curl handle",
                  h->url);
        rc = e->rc;
        goto out;
    }
    struct buf qs;
    buf_init(&qs, 64 << 20);
    bool with_data = r->data.len > 0;
    if (with_data)
        rc = add_param(c, &qs, "query", r->sql);
    if (!rc && r->settings && r->settings[0])
        rc = buf_printf(&qs, "%s%s", qs.len ? "&" : "", r->settings);
    if (!rc)
        rc = buf_printf(&url, "%s/%s%s", h->url, qs.len ? "?" : "", qs.len ? qs.ptr : "");
    buf_release(&qs);
    if (!rc && with_data)
        rc = gzip_append(&gz, r->data);
    if (rc) {
        set_error(e, rc, false, "ClickHouse at %s: cannot build the request: %s", h->url,
                  strata_strerror(rc));
        goto out;
    }

    char errbuf[CURL_ERROR_SIZE] = "";
    struct buf *dst = r->out ? r->out : &scratch;
    struct sink sink = {.dst = dst, .discard_overflow = r->out == NULL};
    curl_easy_setopt(c, CURLOPT_URL, url.ptr);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    if (with_data) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, gz.ptr);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)gz.len);
        headers = curl_slist_append(headers, "Content-Encoding: gzip");
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->sql);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->sql));
    }
    headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (h->user[0] || h->password[0]) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, h->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, h->password);
    }
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)r->cancel);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");

    size_t dst_start = dst->len;
    CURLcode cc = curl_easy_perform(c);
    __atomic_add_fetch(&h->requests, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&h->bytes_out, with_data ? gz.len : strlen(r->sql), __ATOMIC_RELAXED);
    __atomic_add_fetch(&h->bytes_in, sink.bytes, __ATOMIC_RELAXED);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    e->http_status = (int)status;
    if (cc != CURLE_OK) {
        curl_failure(h, cc, errbuf, e);
        rc = e->rc;
        goto out;
    }
    reusable = true;
    if (status != 200) {
        struct slice body = {dst->ptr ? dst->ptr + dst_start : "", dst->len - dst_start};
        http_failure(h, status, body, e);
        if (r->out)
            buf_truncate(r->out, dst_start);
        rc = e->rc;
    }
out:
    curl_slist_free_all(headers);
    if (c)
        handle_put(h, c, reusable);
    buf_release(&url);
    buf_release(&gz);
    buf_release(&scratch);
    return rc;
}

/* ---- retries --------------------------------------------------------------- */

void clickhouse_backoff_init(struct clickhouse_backoff *b, int64_t budget_ns)
{
    int64_t now = clock_mono_ns();
    b->deadline_ns = now + (budget_ns > 0 ? budget_ns : 0);
    b->delay_ns = 100 * NS_PER_MS;
    b->attempts = 1;
    b->rand_state = (uint64_t)now ^ (uint64_t)(uintptr_t)b ^ 0x9e3779b97f4a7c15ull;
}

static uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

bool clickhouse_backoff_wait(struct clickhouse_backoff *b, const struct clickhouse_error *e,
                             const volatile int *cancel)
{
    if (!e->retryable || tier_cancelled(cancel))
        return false;
    int64_t now = clock_mono_ns();
    if (now >= b->deadline_ns)
        return false;
    /* +-25% jitter so that several writers do not retry in step. */
    int64_t quarter = b->delay_ns / 4;
    int64_t delay =
        b->delay_ns - quarter + (int64_t)(next_rand(&b->rand_state) % (uint64_t)(2 * quarter + 1));
    if (delay > b->deadline_ns - now)
        delay = b->deadline_ns - now;
    int64_t until = now + delay;
    while ((now = clock_mono_ns()) < until) {
        if (tier_cancelled(cancel))
            return false;
        int64_t step = until - now < 50 * NS_PER_MS ? until - now : 50 * NS_PER_MS;
        struct timespec ts = {(time_t)(step / NS_PER_SEC), (long)(step % NS_PER_SEC)};
        nanosleep(&ts, NULL);
    }
    b->delay_ns = b->delay_ns * 2 > 5 * NS_PER_SEC ? 5 * NS_PER_SEC : b->delay_ns * 2;
    b->attempts++;
    return true;
}
