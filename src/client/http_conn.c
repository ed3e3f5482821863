/*
 * http_conn.c - libstrata's HTTP transport (libcurl), also the CLI's query client.
 *
 * libcurl easy handles are not thread-safe, so each request borrows one from
 * a small pool and gives it back: concurrent requests use separate handles,
 * and a handle's open connection is reused by the next request that takes
 * it. Every request carries the client's headers (Authorization, X-Scope-OrgID,
 * User-Agent) and TLS settings; CURLOPT_NOSIGNAL keeps libcurl away from
 * signals in threaded programs.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/transport.h"
#include "core/alloc.h"
#include "core/err.h"

#define POOL_MAX 8 /* idle handles kept; more concurrent requests get fresh ones */

struct http_conn {
    char *base; /* without a trailing '/' */
    char *ca_file, *cert_file, *key_file;
    struct curl_slist *headers; /* the client's own headers, shared by every request */
    int timeout_ms;
    pthread_mutex_t lock;
    CURL *idle[POOL_MAX];
    int n_idle;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_or_null(const char *s)
{
    return s && s[0] ? xstrdup(s) : NULL;
}

int http_conn_new(const char *base_url, const struct strata_options *o, struct http_conn **out,
                  char *err, size_t errlen)
{
    *out = NULL;
    bool https = !strncmp(base_url, "https://", 8);
    if (!https && strncmp(base_url, "http://", 7)) {
        strata_errorf(err, errlen, "invalid URL \"%s\": expected http://host:port or https://...",
                      base_url);
        return STRATA_EINVAL;
    }
    if (o->tls.enabled && !https) {
        strata_errorf(err, errlen, "TLS is enabled but the URL \"%s\" is http://", base_url);
        return STRATA_EINVAL;
    }
    if (!o->tls.cert_file != !o->tls.key_file) {
        strata_errorf(err, errlen, "TLS: cert_file and key_file go together");
        return STRATA_EINVAL;
    }
    /* Fail now, with the file's name, rather than at the first request. */
    const char *files[3] = {o->tls.ca_file, o->tls.cert_file, o->tls.key_file};
    for (int i = 0; i < 3; i++) {
        FILE *f = files[i] && files[i][0] ? fopen(files[i], "rb") : NULL;
        if (files[i] && files[i][0] && !f) {
            strata_errorf(err, errlen, "cannot open %s: %s", files[i], strerror(errno));
            return STRATA_EINVAL;
        }
        if (f)
            fclose(f);
    }
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        strata_errorf(err, errlen, "libcurl: %s", curl_easy_strerror(curl_init_rc));
        return STRATA_EINTERNAL;
    }
    struct http_conn *h = xcalloc(1, sizeof(*h));
    h->base = xstrdup(base_url);
    size_t n = strlen(h->base);
    while (n > 0 && h->base[n - 1] == '/')
        h->base[--n] = '\0';
    h->ca_file = dup_or_null(o->tls.ca_file);
    h->cert_file = dup_or_null(o->tls.cert_file);
    h->key_file = dup_or_null(o->tls.key_file);
    h->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    pthread_mutex_init(&h->lock, NULL);
    char line[4200];
    if (o->bearer_token && o->bearer_token[0]) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", o->bearer_token);
        h->headers = curl_slist_append(h->headers, line);
    }
    if (o->tenant && o->tenant[0]) {
        snprintf(line, sizeof(line), "X-Scope-OrgID: %s", o->tenant);
        h->headers = curl_slist_append(h->headers, line);
    }
    snprintf(line, sizeof(line), "User-Agent: strata-client/%s", strata_client_version());
    h->headers = curl_slist_append(h->headers, line);
    /* No "Expect: 100-continue" round trip before bodies. */
    h->headers = curl_slist_append(h->headers, "Expect:");
    *out = h;
    return 0;
}

void http_conn_free(struct http_conn *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->n_idle; i++)
        curl_easy_cleanup(h->idle[i]);
    curl_slist_free_all(h->headers);
    pthread_mutex_destroy(&h->lock);
    free(h->base);
    free(h->ca_file);
    free(h->cert_file);
    free(h->key_file);
    free(h);
}

static CURL *take_handle(struct http_conn *h)
{
    pthread_mutex_lock(&h->lock);
    CURL *c = h->n_idle ? h->idle[--h->n_idle] : NULL;
    pthread_mutex_unlock(&h->lock);
    if (c)
        curl_easy_reset(c); /* options go, the connection cache stays */
    else
        c = curl_easy_init();
    return c;
}

static void give_handle(struct http_conn *h, CURL *c)
{
    pthread_mutex_lock(&h->lock);
    if (h->n_idle < POOL_MAX) {
        h->idle[h->n_idle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&h->lock);
    if (c)
        curl_easy_cleanup(c);
}

struct sink {
    struct buf *b;
    bool too_large;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    if (buf_append(s->b, p, size * n) < 0) {
        s->too_large = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    return size * n;
}

static int curl_error(struct send_result *r, CURLcode cc, const char *detail)
{
    const char *what = detail && detail[0] ? detail : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT: return send_result_fail(r, STRATA_ETIMEOUT, true, "%s", what);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return send_result_fail(r, STRATA_EINVAL, false, "%s", what);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
        /* A certificate that does not check out will not check out next time either. */
        return send_result_fail(r, STRATA_EUNAVAIL, false, "TLS: %s", what);
    default: return send_result_fail(r, STRATA_EUNAVAIL, true, "%s", what);
    }
}

int http_conn_request(struct http_conn *h, const char *method, const char *path,
                      const char *content_type, struct slice body, struct buf *resp,
                      struct send_result *r)
{
    memset(r, 0, sizeof(*r));
    struct buf url;
    buf_init(&url, 1 << 20);
    if (buf_printf(&url, "%s%s", h->base, path) < 0) {
        buf_release(&url);
        return send_result_fail(r, STRATA_ETOOLARGE, false, "URL too long");
    }
    CURL *c = take_handle(h);
    struct curl_slist *headers = NULL;
    for (struct curl_slist *l = h->headers; l; l = l->next)
        headers = curl_slist_append(headers, l->data);
    if (content_type) {
        char ct[256];
        snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
        headers = curl_slist_append(headers, ct);
    }
    struct sink sink = {resp, false};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url.ptr);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)h->timeout_ms);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip answers are inflated by curl */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (h->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
    if (h->cert_file) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, h->cert_file);
        curl_easy_setopt(c, CURLOPT_SSLKEY, h->key_file);
    }
    if (!strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.ptr ? body.ptr : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    r->status = (int)status;
    if (cc != CURLE_OK) {
        if (sink.too_large)
            send_result_fail(r, STRATA_ETOOLARGE, false, "the answer is larger than %zu bytes",
                             resp->max);
        else
            curl_error(r, cc, errbuf);
    } else if (status < 200 || status > 299) {
        int rc = http_status_rc((int)status);
        bool retry =
            status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
        /* The server's plain-text message, without its trailing newline. */
        int n = (int)(resp->len < 600 ? resp->len : 600);
        while (n > 0 && (resp->ptr[n - 1] == '\n' || resp->ptr[n - 1] == '\r'))
            n--;
        send_result_fail(r, rc, retry, "HTTP %ld: %.*s", status, n, resp->ptr ? resp->ptr : "");
    }
    curl_slist_free_all(headers);
    give_handle(h, c);
    buf_release(&url);
    return r->rc;
}
