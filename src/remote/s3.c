/*
 * s3.c - the S3 client: requests, signing, the retry loop, and the operations.
 *
 * Every operation becomes one or more struct req, run by run_reqs() on a
 * borrowed session: a curl multi handle whose easy handles keep their
 * connections open between calls. run_reqs starts up to max_parallel
 * requests, waits on the multi handle, and for each finished request either
 * records the result or schedules another attempt after a backoff delay.
 * Each attempt is built from scratch (URL, headers, a fresh x-amz-date and
 * signature), so a retry is indistinguishable from a first try.
 */
#include "remote/s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/version.h"
#include "remote/sigv4.h"

#define ERRBODY_MAX (64 * 1024)
#define LISTING_MAX (16 << 20)
#define SMALL_MAX   (1 << 20)
#define HASH_CHUNK  (1 << 20)
#define MAX_PARTS   10000
#define MAX_KEY_LEN 1024

struct session {
    struct session *next;
    CURLM *multi;
    CURL **idle; /* easy handles not in use, with their connection state */
    int n_idle, cap_idle;
};

struct s3_client {
    struct s3_config cfg;
    struct s3_endpoint ep;
    char endpoint_url[300]; /* scheme://host as configured */
    char base_url[600];     /* scheme://host or scheme://bucket.host */
    char host_hdr[560];     /* the Host header, as signed */
    char path_prefix[300];  /* "/bucket" (path style) or "" (virtual-hosted) */
    char user_agent[64];

    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

    pthread_mutex_t lock; /* guards idle */
    struct session *idle;
    int n_idle;

    struct s3_stats stats; /* updated with __atomic builtins */

    struct metric_family *f_requests, *f_errors, *f_duration;
    struct metric *m_retries, *m_up_bytes, *m_up_objects, *m_down_bytes, *m_down_objects,
        *m_connections;
};

/* One HTTP request and everything its attempts need. */
struct req {
    /* what to send */
    const char *op; /* metrics label: get, put, head, list, delete, create_bucket, multipart */
    const char *method;
    const char *key; /* NULL: the bucket itself */
    struct sigv4_param params[8];
    size_t n_params;
    char range_hdr[64];
    char content_md5[32];
    const char *content_type;
    bool error_in_200; /* CompleteMultipartUpload may answer 200 with an <Error> body */
    const char *body;
    size_t body_len;
    const struct s3_source *src;
    uint64_t src_off, src_len;
    char payload_hash[65];
    bool need_hash; /* hash the source range just before the first attempt */

    /* where the answer goes */
    struct buf *out;
    size_t out_start;
    struct s3_range range;

    /* one attempt */
    CURL *easy;
    struct curl_slist *hdrs;
    struct buf url;
    uint64_t sent;
    int64_t seen;        /* body bytes of a 2xx answer received */
    int64_t content_len; /* Content-Length of the answer, -1 if none */
    int64_t retry_after; /* seconds, -1 if none */
    struct buf errbody;
    int src_rc;
    bool too_large;
    char errbuf[CURL_ERROR_SIZE];
    int64_t t_start;
    long status;

    /* bookkeeping and results */
    bool running, done;
    int attempts;
    int64_t not_before; /* monotonic ns */
    int rc;
    struct s3_object_info info;
    struct s3_error err;
};

/* ---- setup --------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *arg)
{
    (void)h;
    (void)a;
    struct s3_client *c = arg;
    if (d >= 0 && d < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&c->share_locks[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *arg)
{
    (void)h;
    struct s3_client *c = arg;
    if (d >= 0 && d < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&c->share_locks[d]);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

int s3_open(const struct s3_config *cfg, struct s3_client **out, char *err, size_t errlen)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl failed to initialise: %s", curl_easy_strerror(curl_init_rc));
        return STRATA_EINTERNAL;
    }
    if (!cfg->bucket || !cfg->bucket[0] || !cfg->access_key || !cfg->secret_key) {
        snprintf(err, errlen, "S3 configuration is incomplete (bucket and credentials needed)");
        return STRATA_EINVAL;
    }
    struct s3_client *c = xcalloc(1, sizeof(*c));
    c->cfg = *cfg;
    c->cfg.provider = dup_or_null(cfg->provider);
    c->cfg.endpoint = dup_or_null(cfg->endpoint);
    c->cfg.bucket = dup_or_null(cfg->bucket);
    c->cfg.region = xstrdup(cfg->region && cfg->region[0] ? cfg->region : "us-east-1");
    c->cfg.access_key = dup_or_null(cfg->access_key);
    c->cfg.secret_key = dup_or_null(cfg->secret_key);
    c->cfg.session_token = dup_or_null(cfg->session_token);
    c->cfg.ca_file = dup_or_null(cfg->ca_file);
    if (c->cfg.max_parallel < 1)
        c->cfg.max_parallel = 1;
    if (c->cfg.part_size < 1)
        c->cfg.part_size = 1;
    if (c->cfg.delete_batch < 1 || c->cfg.delete_batch > 1000)
        c->cfg.delete_batch = 1000;
    int rc = s3_endpoint_parse(cfg->endpoint, cfg->use_ssl, &c->ep, err, errlen);
    if (rc) {
        s3_config_release(&c->cfg);
        free(c);
        return rc;
    }
    snprintf(c->endpoint_url, sizeof(c->endpoint_url), "%s://%s", c->ep.scheme, c->ep.host);
    if (c->cfg.virtual_hosted) {
        snprintf(c->host_hdr, sizeof(c->host_hdr), "%s.%s", c->cfg.bucket, c->ep.host);
        c->path_prefix[0] = '\0';
    } else {
        snprintf(c->host_hdr, sizeof(c->host_hdr), "%s", c->ep.host);
        struct buf p;
        buf_init(&p, sizeof(c->path_prefix) - 1);
        if (buf_append_char(&p, '/') ||
            sigv4_uri_encode(&p, c->cfg.bucket, strlen(c->cfg.bucket), false)) {
            buf_release(&p);
            snprintf(err, errlen, "bucket name \"%s\" is too long", c->cfg.bucket);
            s3_config_release(&c->cfg);
            free(c);
            return STRATA_EINVAL;
        }
        snprintf(c->path_prefix, sizeof(c->path_prefix), "%s", p.ptr);
        buf_release(&p);
    }
    snprintf(c->base_url, sizeof(c->base_url), "%s://%s", c->ep.scheme, c->host_hdr);
    snprintf(c->user_agent, sizeof(c->user_agent), "strata/%s", strata_version);

    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_locks[i], NULL);
    pthread_mutex_init(&c->lock, NULL);
    c->share = curl_share_init();
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);

    c->f_requests = metrics_family(METRIC_COUNTER, "strata_s3_requests_total",
                                   "S3 requests sent, retries included, by operation.", "op");
    c->f_errors =
        metrics_family(METRIC_COUNTER, "strata_s3_errors_total",
                       "S3 requests that failed, by S3 error code (or transport error).", "code");
    c->f_duration =
        metrics_histogram("strata_s3_request_duration_seconds",
                          "Time of one S3 request attempt, by operation.", "op", NULL, 0);
    c->m_retries = metric_get(
        metrics_family(METRIC_COUNTER, "strata_s3_retries_total", "S3 requests sent again.", NULL));
    c->m_up_bytes = metric_get(metrics_family(METRIC_COUNTER, "strata_s3_uploaded_bytes_total",
                                              "Bytes of object data uploaded to S3.", NULL));
    c->m_up_objects = metric_get(metrics_family(METRIC_COUNTER, "strata_s3_uploaded_objects_total",
                                                "Objects uploaded to S3.", NULL));
    c->m_down_bytes = metric_get(metrics_family(METRIC_COUNTER, "strata_s3_fetched_bytes_total",
                                                "Bytes of object data fetched from S3.", NULL));
    c->m_down_objects =
        metric_get(metrics_family(METRIC_COUNTER, "strata_s3_fetched_objects_total",
                                  "Object GETs (whole or ranged) answered by S3.", NULL));
    c->m_connections = metric_get(metrics_family(METRIC_COUNTER, "strata_s3_connections_total",
                                                 "New connections opened to S3.", NULL));
    *out = c;
    return 0;
}

static void session_free(struct session *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_idle; i++)
        curl_easy_cleanup(s->idle[i]);
    free(s->idle);
    curl_multi_cleanup(s->multi);
    free(s);
}

void s3_close(struct s3_client *c)
{
    if (!c)
        return;
    while (c->idle) {
        struct session *s = c->idle;
        c->idle = s->next;
        session_free(s);
    }
    curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_locks[i]);
    pthread_mutex_destroy(&c->lock);
    s3_config_release(&c->cfg);
    free(c);
}

const char *s3_endpoint_url(const struct s3_client *c)
{
    return c->endpoint_url;
}

const char *s3_bucket(const struct s3_client *c)
{
    return c->cfg.bucket;
}

static void stat_add(uint64_t *field, uint64_t n)
{
    __atomic_fetch_add(field, n, __ATOMIC_RELAXED);
}

void s3_stats(struct s3_client *c, struct s3_stats *out)
{
    uint64_t *src = (uint64_t *)&c->stats, *dst = (uint64_t *)out;
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

/* ---- sessions ------------------------------------------------------------ */

static struct session *session_get(struct s3_client *c)
{
    pthread_mutex_lock(&c->lock);
    struct session *s = c->idle;
    if (s) {
        c->idle = s->next;
        c->n_idle--;
    }
    pthread_mutex_unlock(&c->lock);
    if (s)
        return s;
    s = xcalloc(1, sizeof(*s));
    s->multi = curl_multi_init();
    if (!s->multi) {
        log_error("s3: curl_multi_init failed");
        abort();
    }
    /* Enough open connections for one parallel operation. */
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)c->cfg.max_parallel + 2);
    return s;
}

static void session_put(struct s3_client *c, struct session *s)
{
    pthread_mutex_lock(&c->lock);
    /* Keep a bounded number of idle sessions (each holds open connections). */
    if (c->n_idle < 32) {
        s->next = c->idle;
        c->idle = s;
        c->n_idle++;
        s = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    session_free(s);
}

static CURL *easy_get(struct session *s)
{
    if (s->n_idle > 0)
        return s->idle[--s->n_idle];
    CURL *e = curl_easy_init();
    if (!e) {
        log_error("s3: curl_easy_init failed");
        abort();
    }
    return e;
}

static void easy_put(struct session *s, CURL *e)
{
    if (s->n_idle == s->cap_idle) {
        s->cap_idle = s->cap_idle ? s->cap_idle * 2 : 8;
        s->idle = xreallocarray(s->idle, (size_t)s->cap_idle, sizeof(CURL *));
    }
    s->idle[s->n_idle++] = e;
}

/* ---- the retry policy ---------------------------------------------------- */

bool s3_retryable(int curl_code, int http_status, const char *code)
{
    if (curl_code != CURLE_OK) {
        switch (curl_code) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_WEIRD_SERVER_REPLY: return true;
        default: return false;
        }
    }
    if (http_status >= 500 || http_status == 429)
        return true;
    if (code && (!strcmp(code, "SlowDown") || !strcmp(code, "RequestTimeout") ||
                 !strcmp(code, "InternalError") || !strcmp(code, "ServiceUnavailable")))
        return true;
    return false;
}

int s3_status_rc(int s)
{
    if (s >= 200 && s < 300)
        return 0;
    switch (s) {
    case 401: return STRATA_EUNAUTH;
    case 403: return STRATA_EFORBIDDEN;
    case 404: return STRATA_ENOTFOUND;
    case 409: return STRATA_EEXISTS;
    case 413: return STRATA_ETOOLARGE;
    case 429:
    case 503: return STRATA_EUNAVAIL;
    case 504: return STRATA_ETIMEOUT;
    default: return s >= 400 && s < 500 ? STRATA_EINVAL : STRATA_EIO;
    }
}

int64_t s3_backoff_ns(const struct s3_config *cfg, int n, uint64_t random)
{
    int64_t d = cfg->retry_base_ns > 0 ? cfg->retry_base_ns : NS_PER_MS;
    int64_t cap = cfg->retry_max_ns > 0 ? cfg->retry_max_ns : d;
    for (int i = 1; i < n && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    int64_t half = d / 2;
    return half + (half > 0 ? (int64_t)(random % (uint64_t)(half + 1)) : 0);
}

static uint64_t next_random(void)
{
    static __thread uint64_t x;
    if (!x)
        x = (uint64_t)clock_mono_ns() ^ ((uint64_t)(uintptr_t)&x << 17) ^ 0x9E3779B97F4A7C15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

/* ---- building one attempt ------------------------------------------------ */

static bool valid_key(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > MAX_KEY_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
            return false;
    return utf8_valid(key, n);
}

static void set_error(struct s3_error *e, int rc, int status, const char *code, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));
static void set_error(struct s3_error *e, int rc, int status, const char *code, const char *fmt,
                      ...)
{
    if (!e)
        return;
    memset(e, 0, sizeof(*e));
    e->rc = rc;
    e->http_status = status;
    snprintf(e->code, sizeof(e->code), "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

static size_t on_read(char *ptr, size_t size, size_t nitems, void *arg)
{
    struct req *r = arg;
    uint64_t total = r->src ? r->src_len : r->body_len;
    size_t n = size * nitems;
    if (n > total - r->sent)
        n = (size_t)(total - r->sent);
    if (n == 0)
        return 0;
    if (r->src) {
        int rc = r->src->read_at(r->src->arg, r->src_off + r->sent, ptr, n);
        if (rc < 0) {
            r->src_rc = rc;
            return CURL_READFUNC_ABORT;
        }
    } else {
        memcpy(ptr, r->body + r->sent, n);
    }
    r->sent += n;
    return n;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct req *r = arg;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 300 || r->error_in_200) {
        /* Error bodies (and bodies that may hold an error) are kept up to a bound. */
        size_t room = r->errbody.max - r->errbody.len;
        (void)!buf_append(&r->errbody, ptr, n < room ? n : room);
        if (status >= 300)
            return n;
    }
    if (!r->out) {
        r->seen += (int64_t)n;
        return n;
    }
    /* A 200 to a ranged request means the server ignored Range: keep only the window. */
    const char *p = ptr;
    size_t len = n;
    if (status == 200 && (r->range.offset != 0 || r->range.length >= 0)) {
        int64_t lo = r->range.offset, hi;
        if (lo < 0) {
            int64_t total = r->content_len;
            lo = total >= 0 ? (total + lo > 0 ? total + lo : 0) : 0;
            hi = INT64_MAX;
        } else {
            hi = r->range.length < 0 ? INT64_MAX : lo + r->range.length;
        }
        int64_t a = r->seen, b = r->seen + (int64_t)n;
        int64_t from = a > lo ? a : lo, to = b < hi ? b : hi;
        if (to <= from) {
            r->seen += (int64_t)n;
            return n;
        }
        p = ptr + (from - a);
        len = (size_t)(to - from);
    }
    r->seen += (int64_t)n;
    if (buf_append(r->out, p, len) < 0) {
        r->too_large = true;
        return 0;
    }
    return n;
}

static bool header_is(const char *line, size_t n, const char *name, const char **value,
                      size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
        return false;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    *value = v;
    *vlen = (size_t)(end - v);
    return true;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *arg)
{
    struct req *r = arg;
    size_t n = size * nitems;
    const char *v;
    size_t vl;
    char tmp[128];
    if (n >= 5 && !strncmp(line, "HTTP/", 5)) {
        /* A new response (after a 100 Continue, say): forget the previous one's headers. */
        r->content_len = -1;
        r->retry_after = -1;
        r->info.etag[0] = '\0';
        r->err.request_id[0] = '\0';
    } else if (header_is(line, n, "ETag", &v, &vl)) {
        snprintf(r->info.etag, sizeof(r->info.etag), "%.*s", (int)vl, v);
    } else if (header_is(line, n, "Content-Length", &v, &vl)) {
        int64_t x;
        if (clock_parse_int64(slice_make(v, vl), &x) == 0 && x >= 0)
            r->content_len = x;
    } else if (header_is(line, n, "Content-Range", &v, &vl)) {
        int64_t f, l, t;
        if (s3_parse_content_range(slice_make(v, vl), &f, &l, &t) == 0) {
            r->info.first = f;
            r->info.last = l;
            r->info.size = t;
        }
    } else if (header_is(line, n, "Last-Modified", &v, &vl)) {
        snprintf(tmp, sizeof(tmp), "%.*s", (int)vl, v);
        time_t t = curl_getdate(tmp, NULL);
        r->info.last_modified_ns = t > 0 ? (int64_t)t * NS_PER_SEC : 0;
    } else if (header_is(line, n, "x-amz-request-id", &v, &vl)) {
        snprintf(r->err.request_id, sizeof(r->err.request_id), "%.*s", (int)vl, v);
    } else if (header_is(line, n, "Retry-After", &v, &vl)) {
        int64_t x;
        if (clock_parse_int64(slice_make(v, vl), &x) == 0 && x >= 0)
            r->retry_after = x;
    }
    return n;
}

/* Append the request's path and query (as sent and as signed) to out. */
static int build_target(struct s3_client *c, struct req *r, struct buf *path, struct buf *query)
{
    int rc = buf_append_str(path, c->path_prefix);
    if (!rc && r->key) {
        rc = buf_append_char(path, '/');
        if (!rc)
            rc = sigv4_uri_encode(path, r->key, strlen(r->key), true);
    } else if (!rc && !c->path_prefix[0]) {
        rc = buf_append_char(path, '/');
    }
    if (!rc)
        rc = sigv4_canonical_query(query, r->params, r->n_params);
    return rc;
}

static int add_header(struct curl_slist **l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int add_header(struct curl_slist **l, const char *fmt, ...)
{
    char line[2400];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line))
        return STRATA_ETOOLARGE;
    struct curl_slist *nl = curl_slist_append(*l, line);
    if (!nl)
        return STRATA_EINTERNAL;
    *l = nl;
    return 0;
}

/* Prepare r's next attempt on easy handle h. */
static int start_attempt(struct s3_client *c, struct req *r, CURL *h)
{
    r->easy = h;
    r->sent = 0;
    r->seen = 0;
    r->content_len = -1;
    r->retry_after = -1;
    r->src_rc = 0;
    r->too_large = false;
    r->errbuf[0] = '\0';
    r->info.size = -1;
    r->info.first = r->info.last = -1;
    r->info.etag[0] = '\0';
    r->info.last_modified_ns = 0;
    r->err.request_id[0] = '\0';
    buf_reset(&r->errbody);
    if (r->out)
        buf_truncate(r->out, r->out_start);

    struct buf path, query, auth;
    buf_init(&path, 8192);
    buf_init(&query, 8192);
    buf_init(&auth, 1024);
    buf_reset(&r->url);
    int rc = build_target(c, r, &path, &query);
    if (!rc)
        rc = buf_printf(&r->url, "%s%s%s%s", c->base_url, path.ptr, query.len ? "?" : "",
                        query.len ? query.ptr : "");
    char date[17];
    sigv4_amz_date(time(NULL), date);
    struct sigv4_header hs[8];
    size_t nh = 0;
    hs[nh++] = (struct sigv4_header){"host", c->host_hdr};
    hs[nh++] = (struct sigv4_header){"x-amz-content-sha256", r->payload_hash};
    hs[nh++] = (struct sigv4_header){"x-amz-date", date};
    if (c->cfg.session_token)
        hs[nh++] = (struct sigv4_header){"x-amz-security-token", c->cfg.session_token};
    if (r->range_hdr[0])
        hs[nh++] = (struct sigv4_header){"range", r->range_hdr};
    if (r->content_md5[0])
        hs[nh++] = (struct sigv4_header){"content-md5", r->content_md5};
    struct sigv4_credentials cr = {c->cfg.access_key, c->cfg.secret_key, c->cfg.region, "s3"};
    struct sigv4_request sr = {r->method, path.ptr, r->params,      r->n_params,
                               hs,        nh,       r->payload_hash};
    if (!rc)
        rc = sigv4_sign(&cr, date, &sr, &auth, NULL, NULL);
    struct curl_slist *l = NULL;
    for (size_t i = 0; i < nh && !rc; i++)
        rc = add_header(&l, "%s: %s", i == 0 ? "Host" : hs[i].name, hs[i].value);
    if (!rc)
        rc = add_header(&l, "Authorization: %s", auth.ptr);
    /* No 100-continue round trip; no form content type on POSTs. */
    if (!rc)
        rc = add_header(&l, "Expect:");
    if (!rc)
        rc = add_header(&l, r->content_type ? "Content-Type: %s" : "Content-Type:%s",
                        r->content_type ? r->content_type : "");
    buf_release(&path);
    buf_release(&query);
    buf_release(&auth);
    if (rc) {
        curl_slist_free_all(l);
        return rc;
    }
    r->hdrs = l;

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, r->url.ptr);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    /* S3 speaks HTTP/1.1; keep-alive connections are what gets reused. */
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->cfg.connect_timeout_ns / NS_PER_MS));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(c->cfg.request_timeout_ns / NS_PER_MS));
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(h, CURLOPT_PRIVATE, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    if (c->cfg.ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg.ca_file);
    uint64_t body_len = r->src ? r->src_len : r->body_len;
    if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(r->method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
    } else if (!strcmp(r->method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
    } else if (strcmp(r->method, "GET")) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    r->attempts++;
    r->t_start = clock_mono_ns();
    return 0;
}

/* Describe a transport failure for messages and metrics. */
static const char *transport_code(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST: return "ResolveFailed";
    case CURLE_COULDNT_CONNECT: return "ConnectFailed";
    case CURLE_OPERATION_TIMEDOUT: return "Timeout";
    case CURLE_PEER_FAILED_VERIFICATION: return "TLSVerifyFailed";
    case CURLE_SSL_CONNECT_ERROR: return "TLSConnectFailed";
    case CURLE_SSL_CACERT_BADFILE: return "TLSBadCAFile";
    default: return "TransportError";
    }
}

/* The end of an attempt: record the result, or schedule another attempt. */
static void finish_attempt(struct s3_client *c, struct req *r, CURLcode cc)
{
    long status = 0;
    long connects = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &connects);
    r->status = status;
    if (connects > 0) {
        stat_add(&c->stats.connections, (uint64_t)connects);
        metric_inc(c->m_connections, (uint64_t)connects);
    }
    stat_add(&c->stats.requests, 1);
    metric_inc(metric_get(c->f_requests, r->op), 1);
    metric_observe(metric_get(c->f_duration, r->op),
                   (double)(clock_mono_ns() - r->t_start) / (double)NS_PER_SEC);
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;

    char code[64] = "";
    char smsg[320] = "";
    int rc = 0;
    bool retry = false;
    if (r->src_rc) {
        rc = r->src_rc;
        snprintf(code, sizeof(code), "SourceReadFailed");
        snprintf(smsg, sizeof(smsg), "reading the body to upload failed: %s", strata_strerror(rc));
    } else if (r->too_large) {
        rc = STRATA_ETOOLARGE;
        snprintf(code, sizeof(code), "ResponseTooLarge");
        snprintf(smsg, sizeof(smsg), "the answer is larger than the %zu bytes allowed",
                 r->out ? r->out->max : 0);
    } else if (cc != CURLE_OK) {
        retry = s3_retryable(cc, 0, NULL);
        rc = cc == CURLE_OPERATION_TIMEDOUT ? STRATA_ETIMEOUT : STRATA_EUNAVAIL;
        snprintf(code, sizeof(code), "%s", transport_code(cc));
        snprintf(smsg, sizeof(smsg), "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc));
    } else if (status >= 200 && status < 300) {
        struct s3_xml_error xe;
        if (r->error_in_200 && r->errbody.len &&
            s3_xml_parse_error(r->errbody.ptr, r->errbody.len, &xe) == 0) {
            /* "200 OK" with an <Error> inside: CompleteMultipartUpload's way of failing. */
            rc = STRATA_EIO;
            snprintf(code, sizeof(code), "%s", xe.code);
            snprintf(smsg, sizeof(smsg), "%s", xe.message);
            if (xe.request_id[0])
                snprintf(r->err.request_id, sizeof(r->err.request_id), "%s", xe.request_id);
            retry = s3_retryable(0, 200, xe.code);
        }
    } else {
        struct s3_xml_error xe;
        rc = s3_status_rc((int)status);
        if (r->errbody.len && s3_xml_parse_error(r->errbody.ptr, r->errbody.len, &xe) == 0) {
            snprintf(code, sizeof(code), "%s", xe.code);
            snprintf(smsg, sizeof(smsg), "%s", xe.message);
            if (xe.request_id[0])
                snprintf(r->err.request_id, sizeof(r->err.request_id), "%s", xe.request_id);
        } else {
            /* HEAD answers carry no body; name the status the way S3 would. */
            const char *name = status == 404   ? (r->key ? "NoSuchKey" : "NoSuchBucket")
                               : status == 403 ? "AccessDenied"
                               : status == 401 ? "Unauthorized"
                               : status == 400 ? "BadRequest"
                               : status == 503 ? "ServiceUnavailable"
                                               : "";
            if (name[0])
                snprintf(code, sizeof(code), "%s", name);
            else
                snprintf(code, sizeof(code), "HTTP%ld", status);
        }
        retry = s3_retryable(0, (int)status, code);
        if (retry && status < 500 && status != 429)
            rc = STRATA_EUNAVAIL;
    }

    if (rc == 0) {
        r->rc = 0;
        r->done = true;
        return;
    }
    if (retry && r->attempts <= c->cfg.max_retries) {
        int64_t d = s3_backoff_ns(&c->cfg, r->attempts, next_random());
        if (r->retry_after >= 0) {
            int64_t ra = r->retry_after * NS_PER_SEC;
            int64_t cap = c->cfg.retry_max_ns > 0 ? c->cfg.retry_max_ns : ra;
            d = ra > d ? (ra < cap ? ra : cap) : d;
        }
        r->not_before = clock_mono_ns() + d;
        stat_add(&c->stats.retries, 1);
        metric_inc(c->m_retries, 1);
        char what[400];
        if (status && cc == CURLE_OK)
            snprintf(what, sizeof(what), "HTTP %ld %s", status, code);
        else
            snprintf(what, sizeof(what), "%s: %s", code, smsg);
        log_warn("s3: %s %s failed (%s); retry %d of %d in %lld ms", r->method, r->url.ptr, what,
                 r->attempts, c->cfg.max_retries, (long long)(d / NS_PER_MS));
        return;
    }
    stat_add(&c->stats.errors, 1);
    metric_inc(metric_get(c->f_errors, code[0] ? code : "unknown"), 1);
    char rid[128] = "";
    if (r->err.request_id[0])
        snprintf(rid, sizeof(rid), "; request id %s", r->err.request_id);
    char saved_rid[96];
    snprintf(saved_rid, sizeof(saved_rid), "%s", r->err.request_id);
    if (status && cc == CURLE_OK)
        set_error(&r->err, rc, (int)status, code, "s3 %s %s: HTTP %ld %s%s%s (%d attempt%s%s)",
                  r->method, r->url.ptr, status, code, smsg[0] ? ": " : "", smsg, r->attempts,
                  r->attempts == 1 ? "" : "s", rid);
    else
        set_error(&r->err, rc, 0, code, "s3 %s %s: %s: %s (%d attempt%s)", r->method, r->url.ptr,
                  code, smsg, r->attempts, r->attempts == 1 ? "" : "s");
    snprintf(r->err.request_id, sizeof(r->err.request_id), "%s", saved_rid);
    r->err.attempts = r->attempts;
    r->rc = rc;
    r->done = true;
}

static void req_init(struct req *r, const char *op, const char *method, const char *key)
{
    memset(r, 0, sizeof(*r));
    r->op = op;
    r->method = method;
    r->key = key;
    r->range = S3_WHOLE;
    buf_init(&r->url, 16384);
    buf_init(&r->errbody, ERRBODY_MAX);
    snprintf(r->payload_hash, sizeof(r->payload_hash), "%s", SIGV4_EMPTY_SHA256);
}

static void req_release(struct req *r)
{
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
    buf_release(&r->url);
    buf_release(&r->errbody);
}

static void req_param(struct req *r, const char *name, const char *value)
{
    if (r->n_params < sizeof(r->params) / sizeof(r->params[0]))
        r->params[r->n_params++] = (struct sigv4_param){name, value};
}

/* Hash the body the request will send (memory, or a source range read in chunks). */
static int req_hash_body(struct req *r)
{
    if (!r->src) {
        sigv4_sha256_hex(r->body ? r->body : "", r->body_len, r->payload_hash);
        return 0;
    }
    struct sigv4_sha256 h;
    int rc = sigv4_sha256_init(&h);
    if (rc)
        return rc;
    size_t cap = r->src_len < HASH_CHUNK ? (size_t)r->src_len : HASH_CHUNK;
    char *chunk = xmalloc(cap ? cap : 1);
    for (uint64_t off = 0; off < r->src_len && !rc;) {
        size_t n = r->src_len - off < cap ? (size_t)(r->src_len - off) : cap;
        rc = r->src->read_at(r->src->arg, r->src_off + off, chunk, n);
        if (!rc)
            rc = sigv4_sha256_update(&h, chunk, n);
        off += n;
    }
    free(chunk);
    char hex[65];
    int frc = sigv4_sha256_final(&h, hex);
    if (!rc)
        rc = frc;
    if (!rc)
        memcpy(r->payload_hash, hex, 65);
    return rc;
}

/*
 * Run requests to completion: up to max_parallel at once, in order, retrying
 * each on its own. With fail_fast, the first request that fails for good
 * stops the others from being sent (they end with STRATA_ECANCELED; those
 * already in flight finish). Returns the first failure's rc that is not a
 * cancellation (0 when all succeeded).
 */
static int run_reqs(struct s3_client *c, struct req **reqs, size_t n, bool fail_fast)
{
    struct session *s = session_get(c);
    size_t left = n, running = 0, scan_from = 0;
    bool failed = false;
    for (size_t i = 0; i < n; i++) {
        if (reqs[i]->out)
            reqs[i]->out_start = reqs[i]->out->len;
        reqs[i]->not_before = 0;
    }
    while (left > 0) {
        if (failed && fail_fast) {
            for (size_t i = scan_from; i < n; i++) {
                struct req *r = reqs[i];
                if (r->done || r->running)
                    continue;
                set_error(&r->err, STRATA_ECANCELED, 0, "Canceled",
                          "s3 %s %s%s/%s: not sent, another request of the operation failed",
                          r->method, c->base_url, c->path_prefix, r->key ? r->key : "");
                r->rc = STRATA_ECANCELED;
                r->done = true;
                left--;
            }
            if (left == 0)
                break;
        }
        while (scan_from < n && reqs[scan_from]->done)
            scan_from++;
        int64_t now = clock_mono_ns(), wake = INT64_MAX;
        for (size_t i = scan_from; i < n && running < (size_t)c->cfg.max_parallel; i++) {
            struct req *r = reqs[i];
            if (r->done || r->running)
                continue;
            if (r->not_before > now) {
                if (r->not_before < wake)
                    wake = r->not_before;
                continue;
            }
            if (r->need_hash) {
                r->need_hash = false;
                int hrc = req_hash_body(r);
                if (hrc) {
                    set_error(&r->err, hrc, 0, "SourceReadFailed",
                              "s3 %s %s%s/%s: reading the body to upload failed: %s", r->method,
                              c->base_url, c->path_prefix, r->key ? r->key : "",
                              strata_strerror(hrc));
                    r->rc = hrc;
                    r->done = true;
                    failed = true;
                    left--;
                    continue;
                }
            }
            CURL *h = easy_get(s);
            int rc = start_attempt(c, r, h);
            if (rc) {
                easy_put(s, h);
                r->easy = NULL;
                set_error(&r->err, rc, 0, "RequestBuildFailed",
                          "s3 %s: cannot build the request for key \"%s\": %s", r->method,
                          r->key ? r->key : "", strata_strerror(rc));
                r->rc = rc;
                r->done = true;
                failed = true;
                left--;
                continue;
            }
            curl_multi_add_handle(s->multi, h);
            r->running = true;
            running++;
        }
        /* When every slot is busy, only a finished transfer can let another start. */
        if (running >= (size_t)c->cfg.max_parallel)
            wake = INT64_MAX;
        if (running == 0) {
            if (left == 0)
                break;
            int64_t d = wake - clock_mono_ns();
            if (d > 0) {
                struct timespec ts = {(time_t)(d / NS_PER_SEC), (long)(d % NS_PER_SEC)};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        int still = 0;
        curl_multi_perform(s->multi, &still);
        CURLMsg *m;
        int q;
        while ((m = curl_multi_info_read(s->multi, &q))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            CURL *h = m->easy_handle;
            CURLcode cc = m->data.result;
            struct req *r = NULL;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&r);
            finish_attempt(c, r, cc);
            curl_multi_remove_handle(s->multi, h);
            easy_put(s, h);
            r->easy = NULL;
            r->running = false;
            running--;
            if (r->done) {
                left--;
                failed = failed || r->rc != 0;
            }
        }
        if (left == 0)
            break;
        long timeout_ms = 100;
        if (wake != INT64_MAX) {
            int64_t d = (wake - clock_mono_ns()) / NS_PER_MS;
            if (d < timeout_ms)
                timeout_ms = d < 0 ? 0 : (long)d;
        }
        if (running > 0)
            curl_multi_poll(s->multi, NULL, 0, (int)timeout_ms, NULL);
    }
    session_put(c, s);
    int first = 0;
    for (size_t i = 0; i < n && (!first || first == STRATA_ECANCELED); i++)
        if (reqs[i]->rc && (!first || reqs[i]->rc != STRATA_ECANCELED))
            first = reqs[i]->rc;
    return first;
}

static int run_one(struct s3_client *c, struct req *r, struct s3_error *e)
{
    struct req *list[1] = {r};
    int rc = run_reqs(c, list, 1, false);
    if (rc && e)
        *e = r->err;
    return rc;
}

static int bad_key(const char *op, const char *key, struct s3_error *e)
{
    set_error(e, STRATA_EINVAL, 0, "InvalidKey",
              "s3 %s: invalid object key \"%.200s\" (1 to 1024 bytes of UTF-8, no control "
              "characters)",
              op, key ? key : "(null)");
    return STRATA_EINVAL;
}

/* ---- bucket -------------------------------------------------------------- */

static int create_bucket(struct s3_client *c, struct s3_error *e)
{
    struct req r;
    req_init(&r, "create_bucket", "PUT", NULL);
    struct buf body;
    buf_init(&body, 4096);
    if (strcmp(c->cfg.region, "us-east-1") != 0) {
        /* us-east-1 is the default location and must not be named (AWS refuses it). */
        (void)!buf_printf(&body,
                          "<CreateBucketConfiguration "
                          "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                          "<LocationConstraint>%s</LocationConstraint>"
                          "</CreateBucketConfiguration>",
                          c->cfg.region);
        r.content_type = "application/xml";
    }
    r.body = body.ptr ? body.ptr : "";
    r.body_len = body.len;
    req_hash_body(&r);
    int rc = run_one(c, &r, e);
    if (rc && !strcmp(r.err.code, "BucketAlreadyOwnedByYou"))
        rc = 0;
    req_release(&r);
    buf_release(&body);
    return rc;
}

int s3_check_bucket(struct s3_client *c, struct s3_error *e)
{
    struct arena a;
    arena_init(&a, 0);
    struct s3_list_result res;
    struct s3_list_opts o = {.max_keys = 1};
    int rc = s3_list_page(c, &o, NULL, &a, &res, e);
    if (rc == STRATA_ENOTFOUND && c->cfg.create_bucket_on_empty) {
        log_info("s3: bucket \"%s\" does not exist at %s; creating it", c->cfg.bucket,
                 c->endpoint_url);
        rc = create_bucket(c, e);
        if (!rc)
            rc = s3_list_page(c, &o, NULL, &a, &res, e);
    }
    arena_release(&a);
    return rc;
}

int s3_open_from_options(const struct config *cfg, struct s3_client **out, char *err, size_t errlen)
{
    *out = NULL;
    struct s3_config sc;
    bool configured = false;
    int rc = s3_config_from_options(cfg, &sc, &configured, err, errlen);
    if (rc || !configured) {
        s3_config_release(&sc);
        return rc;
    }
    struct s3_client *c = NULL;
    rc = s3_open(&sc, &c, err, errlen);
    s3_config_release(&sc);
    if (rc)
        return rc;
    struct s3_error e;
    rc = s3_check_bucket(c, &e);
    if (rc) {
        snprintf(err, errlen, "bucket \"%s\" at %s is not usable: [%s] %s", c->cfg.bucket,
                 c->endpoint_url, e.code, e.message);
        s3_close(c);
        return rc;
    }
    log_info("s3: bucket \"%s\" at %s is ready (%s, region %s, credentials from the %s)",
             c->cfg.bucket, c->endpoint_url,
             c->cfg.virtual_hosted ? "virtual-hosted style" : "path style", c->cfg.region,
             c->cfg.credentials_from ? c->cfg.credentials_from : "store config");
    *out = c;
    return 0;
}

int s3_check_from_options(const struct config *cfg, char *err, size_t errlen)
{
    struct s3_client *c = NULL;
    int rc = s3_open_from_options(cfg, &c, err, errlen);
    s3_close(c);
    return rc;
}

/* ---- PUT ----------------------------------------------------------------- */

struct mem_source {
    const char *data;
};

static int mem_read_at(void *arg, uint64_t off, void *buf, size_t len)
{
    struct mem_source *m = arg;
    memcpy(buf, m->data + off, len);
    return 0;
}

static int put_single(struct s3_client *c, const char *key, const struct s3_source *src,
                      struct s3_put_result *res, struct s3_error *e)
{
    struct req r;
    req_init(&r, "put", "PUT", key);
    r.src = src;
    r.src_off = 0;
    r.src_len = src->size;
    r.content_type = "application/octet-stream";
    int rc = req_hash_body(&r);
    if (rc) {
        set_error(e, rc, 0, "SourceReadFailed", "s3 PUT %s/%s: reading the body failed: %s",
                  c->base_url, key, strata_strerror(rc));
        req_release(&r);
        return rc;
    }
    rc = run_one(c, &r, e);
    if (!rc) {
        stat_add(&c->stats.bytes_up, src->size);
        stat_add(&c->stats.objects_up, 1);
        metric_inc(c->m_up_bytes, src->size);
        metric_inc(c->m_up_objects, 1);
        if (res) {
            snprintf(res->etag, sizeof(res->etag), "%s", r.info.etag);
            res->parts = 0;
        }
    }
    req_release(&r);
    return rc;
}

static int abort_upload(struct s3_client *c, const char *key, const char *upload_id,
                        struct s3_error *e)
{
    struct req r;
    req_init(&r, "multipart", "DELETE", key);
    req_param(&r, "uploadId", upload_id);
    int rc = run_one(c, &r, e);
    if (rc == STRATA_ENOTFOUND)
        rc = 0; /* NoSuchUpload: already gone */
    req_release(&r);
    return rc;
}

int s3_abort_upload(struct s3_client *c, const char *key, const char *upload_id, struct s3_error *e)
{
    if (!valid_key(key))
        return bad_key("DELETE", key, e);
    return abort_upload(c, key, upload_id, e);
}

static int put_multipart(struct s3_client *c, const char *key, const struct s3_source *src,
                         struct s3_put_result *res, struct s3_error *e)
{
    uint64_t part = c->cfg.part_size;
    if ((src->size + part - 1) / part > MAX_PARTS) {
        /* S3 allows 10000 parts: grow them, in whole MiB. */
        part = (src->size + MAX_PARTS - 1) / MAX_PARTS;
        part = (part + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
    }
    size_t n_parts = (size_t)((src->size + part - 1) / part);

    /* 1. Initiate. */
    struct arena a;
    arena_init(&a, 0);
    struct buf answer;
    buf_init(&answer, SMALL_MAX);
    struct req init;
    req_init(&init, "multipart", "POST", key);
    req_param(&init, "uploads", "");
    init.content_type = "application/octet-stream";
    init.out = &answer;
    int rc = run_one(c, &init, e);
    req_release(&init);
    char *upload_id = NULL;
    if (!rc && s3_xml_child_text(answer.ptr, answer.len, "UploadId", &a, &upload_id) < 0) {
        rc = STRATA_EIO;
        set_error(e, rc, 200, "MalformedAnswer",
                  "s3 POST %s%s/%s?uploads: the answer has no UploadId", c->base_url,
                  c->path_prefix, key);
    }
    buf_release(&answer);
    if (rc) {
        arena_release(&a);
        return rc;
    }

    /* 2. The parts, in parallel, each hashed first and retried on its own. */
    struct req *parts = xcalloc(n_parts, sizeof(*parts));
    struct req **list = xcalloc(n_parts, sizeof(*list));
    char(*numbers)[24] = xcalloc(n_parts, sizeof(*numbers));
    for (size_t i = 0; i < n_parts && !rc; i++) {
        struct req *r = &parts[i];
        req_init(r, "multipart", "PUT", key);
        snprintf(numbers[i], sizeof(numbers[i]), "%zu", i + 1);
        req_param(r, "partNumber", numbers[i]);
        req_param(r, "uploadId", upload_id);
        r->src = src;
        r->src_off = (uint64_t)i * part;
        r->src_len = src->size - r->src_off < part ? src->size - r->src_off : part;
        r->content_type = "application/octet-stream";
        r->need_hash = true;
        list[i] = r;
    }
    if (!rc) {
        rc = run_reqs(c, list, n_parts, true);
        for (size_t i = 0; rc && i < n_parts; i++)
            if (parts[i].rc == rc) {
                if (e)
                    *e = parts[i].err;
                break;
            }
    }
    for (size_t i = 0; !rc && i < n_parts; i++)
        if (!parts[i].info.etag[0]) {
            rc = STRATA_EIO;
            set_error(e, rc, 200, "MalformedAnswer",
                      "s3 PUT %s%s/%s (part %zu): the answer has no ETag", c->base_url,
                      c->path_prefix, key, i + 1);
        }

    /* 3. Complete, listing every part's ETag. */
    struct buf body;
    buf_init(&body, (size_t)n_parts * 160 + 4096);
    if (!rc) {
        int brc = buf_append_str(&body, "<CompleteMultipartUpload>");
        for (size_t i = 0; i < n_parts && !brc; i++) {
            brc = buf_printf(&body, "<Part><PartNumber>%zu</PartNumber><ETag>", i + 1);
            if (!brc)
                brc = xml_escape(&body, parts[i].info.etag, strlen(parts[i].info.etag));
            if (!brc)
                brc = buf_append_str(&body, "</ETag></Part>");
        }
        if (!brc)
            brc = buf_append_str(&body, "</CompleteMultipartUpload>");
        rc = brc;
    }
    struct req done;
    req_init(&done, "multipart", "POST", key);
    struct buf answer2;
    buf_init(&answer2, SMALL_MAX);
    if (!rc) {
        req_param(&done, "uploadId", upload_id);
        done.content_type = "application/xml";
        done.body = body.ptr;
        done.body_len = body.len;
        done.error_in_200 = true;
        done.out = &answer2;
        req_hash_body(&done);
        rc = run_one(c, &done, e);
        if (rc == STRATA_ENOTFOUND && done.attempts > 1) {
            /* A retried completion whose first attempt did land: the upload is gone
             * because the object exists. Believe it only if the object is there whole. */
            struct s3_object_info info;
            if (s3_head(c, key, &info, NULL) == 0 && info.size == (int64_t)src->size) {
                rc = 0;
                snprintf(done.info.etag, sizeof(done.info.etag), "%s", info.etag);
            }
        }
        if (!rc && res) {
            char *etag = NULL;
            if (s3_xml_child_text(answer2.ptr, answer2.len, "ETag", &a, &etag) == 0)
                snprintf(res->etag, sizeof(res->etag), "%s", etag);
            else
                snprintf(res->etag, sizeof(res->etag), "%s", done.info.etag);
            res->parts = (int)n_parts;
        }
    }
    req_release(&done);
    buf_release(&answer2);
    buf_release(&body);
    for (size_t i = 0; i < n_parts; i++)
        req_release(&parts[i]);
    free(parts);
    free(list);
    free(numbers);

    if (rc) {
        /* 4. Never leave parts behind: abort (retried like any request). */
        struct s3_error ae;
        if (abort_upload(c, key, upload_id, &ae) < 0)
            log_warn("s3: could not abort the multipart upload %s of %s: %s (it will be "
                     "aborted by the next clean-up of stale uploads)",
                     upload_id, key, ae.message);
    } else {
        stat_add(&c->stats.bytes_up, src->size);
        stat_add(&c->stats.objects_up, 1);
        metric_inc(c->m_up_bytes, src->size);
        metric_inc(c->m_up_objects, 1);
    }
    arena_release(&a);
    return rc;
}

int s3_put_source(struct s3_client *c, const char *key, const struct s3_source *src,
                  struct s3_put_result *res, struct s3_error *e)
{
    if (!valid_key(key))
        return bad_key("PUT", key, e);
    if (res)
        memset(res, 0, sizeof(*res));
    if (src->size <= c->cfg.part_size)
        return put_single(c, key, src, res, e);
    return put_multipart(c, key, src, res, e);
}

int s3_put(struct s3_client *c, const char *key, const void *data, size_t len,
           struct s3_put_result *res, struct s3_error *e)
{
    struct mem_source m = {data ? data : ""};
    struct s3_source src = {len, mem_read_at, &m};
    return s3_put_source(c, key, &src, res, e);
}

struct file_source {
    int fd;
};

static int file_read_at(void *arg, uint64_t off, void *buf, size_t len)
{
    struct file_source *f = arg;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(f->fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return strata_from_errno(errno);
        if (n == 0)
            return STRATA_EIO; /* the file shrank under us */
        done += (size_t)n;
    }
    return 0;
}

int s3_put_file(struct s3_client *c, const char *key, const char *path, struct s3_put_result *res,
                struct s3_error *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = strata_from_errno(errno);
        set_error(e, rc, 0, "SourceOpenFailed", "s3 PUT %s: cannot open %s: %s", key, path,
                  strerror(errno));
        return rc;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int rc = strata_from_errno(errno);
        set_error(e, rc, 0, "SourceOpenFailed", "s3 PUT %s: cannot stat %s: %s", key, path,
                  strerror(errno));
        close(fd);
        return rc;
    }
    struct file_source f = {fd};
    struct s3_source src = {(uint64_t)st.st_size, file_read_at, &f};
    int rc = s3_put_source(c, key, &src, res, e);
    close(fd);
    return rc;
}

/* ---- GET and HEAD -------------------------------------------------------- */

static int set_range(struct req *r, struct s3_range range)
{
    r->range = range;
    if (range.offset < 0)
        snprintf(r->range_hdr, sizeof(r->range_hdr), "bytes=-%lld", (long long)-range.offset);
    else if (range.length > 0)
        snprintf(r->range_hdr, sizeof(r->range_hdr), "bytes=%lld-%lld", (long long)range.offset,
                 (long long)(range.offset + range.length - 1));
    else if (range.length < 0 && range.offset > 0)
        snprintf(r->range_hdr, sizeof(r->range_hdr), "bytes=%lld-", (long long)range.offset);
    else if (range.length < 0)
        r->range_hdr[0] = '\0';
    else
        return STRATA_EINVAL;
    if (range.offset >= 0 && range.length > 0 && range.offset > INT64_MAX - range.length)
        return STRATA_EINVAL;
    return 0;
}

/* Fill what a GET or HEAD answer said (sizes from Content-Range or Content-Length). */
static void get_info(struct req *r, struct s3_object_info *info)
{
    if (!info)
        return;
    *info = r->info;
    if (info->size < 0 && r->content_len >= 0 && (r->status == 200 || !r->range_hdr[0]))
        info->size = r->content_len;
    if (info->first < 0 && r->out) {
        size_t got = r->out->len - r->out_start;
        if (got > 0) {
            int64_t lo = r->range.offset >= 0 ? r->range.offset
                                              : (info->size >= 0 ? info->size - (int64_t)got : 0);
            info->first = lo;
            info->last = lo + (int64_t)got - 1;
        }
    }
}

static void count_fetch(struct s3_client *c, struct req *r)
{
    uint64_t n = r->out ? r->out->len - r->out_start : 0;
    stat_add(&c->stats.bytes_down, n);
    stat_add(&c->stats.objects_down, 1);
    metric_inc(c->m_down_bytes, n);
    metric_inc(c->m_down_objects, 1);
}

int s3_get(struct s3_client *c, const char *key, struct s3_range range, struct buf *out,
           struct s3_object_info *info, struct s3_error *e)
{
    struct s3_get_req g = {.key = key, .range = range, .out = out};
    int rc = s3_get_many(c, &g, 1, e);
    if (!rc && info)
        *info = g.info;
    return rc;
}

int s3_get_many(struct s3_client *c, struct s3_get_req *reqs, size_t n, struct s3_error *e)
{
    if (n == 0)
        return 0;
    struct req *rs = xcalloc(n, sizeof(*rs));
    struct req **list = xcalloc(n, sizeof(*list));
    size_t m = 0;
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        struct s3_get_req *g = &reqs[i];
        memset(&g->err, 0, sizeof(g->err));
        memset(&g->info, 0, sizeof(g->info));
        g->info.size = g->info.first = g->info.last = -1;
        g->rc = 0;
        if (!valid_key(g->key)) {
            g->rc = bad_key("GET", g->key, &g->err);
        } else {
            req_init(&rs[i], "get", "GET", g->key);
            rs[i].out = g->out;
            if (set_range(&rs[i], g->range) < 0) {
                g->rc = STRATA_EINVAL;
                set_error(&g->err, g->rc, 0, "InvalidRange",
                          "s3 GET %s: invalid range offset %lld length %lld", g->key,
                          (long long)g->range.offset, (long long)g->range.length);
                req_release(&rs[i]);
            } else {
                list[m++] = &rs[i];
            }
        }
        if (g->rc && !first) {
            first = g->rc;
            if (e)
                *e = g->err;
        }
    }
    if (m)
        run_reqs(c, list, m, false);
    for (size_t i = 0; i < n; i++) {
        struct s3_get_req *g = &reqs[i];
        if (g->rc)
            continue;
        struct req *r = &rs[i];
        g->rc = r->rc;
        if (r->rc) {
            g->err = r->err;
            if (!first) {
                first = r->rc;
                if (e)
                    *e = r->err;
            }
        } else {
            get_info(r, &g->info);
            count_fetch(c, r);
        }
        req_release(r);
    }
    free(rs);
    free(list);
    return first;
}

int s3_head(struct s3_client *c, const char *key, struct s3_object_info *info, struct s3_error *e)
{
    if (!valid_key(key))
        return bad_key("HEAD", key, e);
    struct req r;
    req_init(&r, "head", "HEAD", key);
    int rc = run_one(c, &r, e);
    if (!rc)
        get_info(&r, info);
    req_release(&r);
    return rc;
}

/* ---- DELETE -------------------------------------------------------------- */

int s3_delete(struct s3_client *c, const char *key, struct s3_error *e)
{
    if (!valid_key(key))
        return bad_key("DELETE", key, e);
    struct req r;
    req_init(&r, "delete", "DELETE", key);
    int rc = run_one(c, &r, e);
    if (rc == STRATA_ENOTFOUND && !strcmp(r.err.code, "NoSuchKey"))
        rc = 0;
    req_release(&r);
    return rc;
}

int s3_delete_objects(struct s3_client *c, const char *const *keys, size_t n, struct s3_error *e)
{
    for (size_t i = 0; i < n; i++)
        if (!valid_key(keys[i]))
            return bad_key("DELETE", keys[i], e);
    int rc = 0;
    size_t failed = 0;
    struct s3_error first_fail;
    memset(&first_fail, 0, sizeof(first_fail));
    size_t batch = (size_t)c->cfg.delete_batch;
    for (size_t at = 0; at < n && rc == 0; at += batch) {
        size_t m = n - at < batch ? n - at : batch;
        struct buf body;
        buf_init(&body, batch * (MAX_KEY_LEN * 6 + 64) + 256);
        rc = buf_append_str(&body, "<Delete><Quiet>true</Quiet>");
        for (size_t i = 0; i < m && !rc; i++) {
            rc = buf_append_str(&body, "<Object><Key>");
            if (!rc)
                rc = xml_escape(&body, keys[at + i], strlen(keys[at + i]));
            if (!rc)
                rc = buf_append_str(&body, "</Key></Object>");
        }
        if (!rc)
            rc = buf_append_str(&body, "</Delete>");
        struct buf answer;
        buf_init(&answer, LISTING_MAX);
        struct req r;
        req_init(&r, "delete", "POST", NULL);
        req_param(&r, "delete", "");
        r.content_type = "application/xml";
        r.body = body.ptr;
        r.body_len = body.len;
        r.out = &answer;
        if (!rc) {
            sigv4_content_md5(body.ptr, body.len, r.content_md5);
            req_hash_body(&r);
            rc = run_one(c, &r, e);
        }
        if (!rc) {
            struct arena a;
            arena_init(&a, 0);
            struct s3_delete_result dr;
            if (s3_xml_parse_delete(answer.ptr, answer.len, &a, &dr) < 0) {
                rc = STRATA_EIO;
                set_error(e, rc, 200, "MalformedAnswer",
                          "s3 POST %s: the DeleteObjects answer does not parse", r.url.ptr);
            } else {
                for (size_t i = 0; i < dr.n_failed; i++) {
                    if (!strcmp(dr.failed[i].code, "NoSuchKey"))
                        continue;
                    /* A key that failed for a passing reason gets its own DELETE, which
                     * retries like every request. */
                    const char *code = dr.failed[i].code;
                    if ((!strcmp(code, "InternalError") || !strcmp(code, "SlowDown") ||
                         !strcmp(code, "ServiceUnavailable")) &&
                        s3_delete(c, dr.failed[i].key, NULL) == 0)
                        continue;
                    if (failed++ == 0)
                        set_error(&first_fail, STRATA_EIO, 200, dr.failed[i].code,
                                  "s3 POST %s: could not delete \"%s\": %s: %s", r.url.ptr,
                                  dr.failed[i].key, dr.failed[i].code, dr.failed[i].message);
                }
            }
            arena_release(&a);
        }
        req_release(&r);
        buf_release(&answer);
        buf_release(&body);
    }
    if (!rc && failed) {
        rc = STRATA_EIO;
        if (e) {
            *e = first_fail;
            size_t l = strlen(e->message);
            snprintf(e->message + l, sizeof(e->message) - l, " (%zu of %zu keys not deleted)",
                     failed, n);
        }
    }
    return rc;
}

/* ---- listing ------------------------------------------------------------- */

int s3_list_page(struct s3_client *c, const struct s3_list_opts *o, const char *token,
                 struct arena *a, struct s3_list_result *out, struct s3_error *e)
{
    memset(out, 0, sizeof(*out));
    char max_keys[16];
    struct req r;
    req_init(&r, "list", "GET", NULL);
    req_param(&r, "list-type", "2");
    req_param(&r, "encoding-type", "url");
    if (o && o->max_keys > 0) {
        snprintf(max_keys, sizeof(max_keys), "%d", o->max_keys > 1000 ? 1000 : o->max_keys);
        req_param(&r, "max-keys", max_keys);
    }
    if (o && o->prefix && o->prefix[0])
        req_param(&r, "prefix", o->prefix);
    if (o && o->delimiter && o->delimiter[0])
        req_param(&r, "delimiter", o->delimiter);
    if (o && o->start_after && o->start_after[0])
        req_param(&r, "start-after", o->start_after);
    if (token && token[0])
        req_param(&r, "continuation-token", token);
    struct buf answer;
    buf_init(&answer, LISTING_MAX);
    r.out = &answer;
    int rc = run_one(c, &r, e);
    if (!rc && s3_xml_parse_list(answer.ptr, answer.len, a, out) < 0) {
        rc = STRATA_EIO;
        set_error(e, rc, 200, "MalformedAnswer", "s3 GET %s: the listing does not parse",
                  r.url.ptr);
    }
    req_release(&r);
    buf_release(&answer);
    return rc;
}

int s3_list(struct s3_client *c, const struct s3_list_opts *o, s3_list_fn fn, void *arg,
            struct s3_error *e)
{
    struct arena a;
    arena_init(&a, 0);
    char *token = NULL;
    int rc = 0;
    for (;;) {
        struct arena page;
        arena_init(&page, 0);
        struct s3_list_result res;
        rc = s3_list_page(c, o, token, &page, &res, e);
        for (size_t i = 0; !rc && i < res.n_objects; i++)
            rc = fn(arg, &res.objects[i], NULL);
        for (size_t i = 0; !rc && i < res.n_prefixes; i++)
            rc = fn(arg, NULL, res.prefixes[i]);
        bool more = !rc && res.truncated;
        if (more &&
            (!res.next_token || !res.next_token[0] || (token && !strcmp(token, res.next_token)))) {
            rc = STRATA_EIO;
            set_error(e, rc, 200, "MalformedAnswer",
                      "s3 list of %s%s: a truncated page without a new continuation token",
                      c->base_url, c->path_prefix);
            more = false;
        }
        if (more) {
            /* Keep only the token across pages. */
            arena_release(&a);
            token = arena_strdup(&a, res.next_token);
        }
        arena_release(&page);
        if (!more)
            break;
    }
    arena_release(&a);
    return rc;
}

int s3_list_uploads(struct s3_client *c, const char *prefix, s3_upload_fn fn, void *arg,
                    struct s3_error *e)
{
    struct arena a;
    arena_init(&a, 0);
    char *key_marker = NULL, *id_marker = NULL;
    int rc = 0;
    for (int pages = 0;; pages++) {
        struct arena page;
        arena_init(&page, 0);
        struct req r;
        req_init(&r, "list", "GET", NULL);
        req_param(&r, "uploads", "");
        req_param(&r, "encoding-type", "url");
        if (prefix && prefix[0])
            req_param(&r, "prefix", prefix);
        if (key_marker)
            req_param(&r, "key-marker", key_marker);
        if (id_marker)
            req_param(&r, "upload-id-marker", id_marker);
        struct buf answer;
        buf_init(&answer, LISTING_MAX);
        r.out = &answer;
        rc = run_one(c, &r, e);
        struct s3_uploads_result res;
        memset(&res, 0, sizeof(res));
        if (!rc && s3_xml_parse_uploads(answer.ptr, answer.len, &page, &res) < 0) {
            rc = STRATA_EIO;
            set_error(e, rc, 200, "MalformedAnswer", "s3 GET %s: the upload listing does not parse",
                      r.url.ptr);
        }
        req_release(&r);
        buf_release(&answer);
        for (size_t i = 0; !rc && i < res.n_uploads; i++)
            rc = fn(arg, &res.uploads[i]);
        bool more = !rc && res.truncated && res.next_key_marker && pages < 100000;
        if (more) {
            arena_release(&a);
            key_marker = arena_strdup(&a, res.next_key_marker);
            id_marker =
                res.next_upload_id_marker ? arena_strdup(&a, res.next_upload_id_marker) : NULL;
        }
        arena_release(&page);
        if (!more)
            break;
    }
    arena_release(&a);
    return rc;
}
