/*
 * api_status.c - probes, metrics and build information.
 *
 * /ready (Loki), /api/v1/healthz and /api/v1/readyz (LogsGO), /metrics
 * (Prometheus text), /loki/api/v1/status/buildinfo.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/metrics.h"
#include "core/version.h"
#include "server/handlers.h"
#include "server/server.h"

/* Whether every tier that can tell is able to serve (ClickHouse answers); why not in why. */
static bool tiers_ready(struct server *srv, char *why, size_t cap)
{
    for (struct tier *t = store_tiers(srv->store); t; t = t->next) {
        char err[512] = "";
        if (t->ops->ready && t->ops->ready(t, err, sizeof(err)) < 0) {
            snprintf(why, cap, "%s: %s", t->ops->name, err);
            return false;
        }
    }
    return true;
}

HANDLER(h_ready)
{
    struct server *srv = ctx;
    char why[600];
    if (!srv->ready)
        http_reply_text(req, 503, "not ready: starting up");
    else if (!tiers_ready(srv, why, sizeof(why)))
        http_reply_text(req, 503, "not ready: %s", why);
    else
        http_reply(req, 200, "text/plain; charset=utf-8", "ready\n", 6);
}

HANDLER(h_logsgo_healthz)
{
    (void)ctx;
    http_reply(req, 200, NULL, "", 0);
}

HANDLER(h_logsgo_readyz)
{
    struct server *srv = ctx;
    char why[600];
    if (srv->ready && tiers_ready(srv, why, sizeof(why)))
        http_reply(req, 200, NULL, "", 0);
    else
        http_reply_json_error(req, 503, "not ready");
}

HANDLER(h_buildinfo)
{
    (void)ctx;
    struct buf b;
    buf_init(&b, 4096);
    struct json_writer w;
    json_writer_init(&w, &b);
    char branch[64];
    snprintf(branch, sizeof(branch), "strata-%s", strata_version);
    jw_object_begin(&w);
    jw_key(&w, "version");
    jw_string(&w, strata_loki_version);
    jw_key(&w, "revision");
    jw_string(&w, strata_revision);
    jw_key(&w, "branch");
    jw_string(&w, branch);
    jw_key(&w, "buildUser");
    jw_string(&w, "strata");
    jw_key(&w, "buildDate");
    jw_string(&w, strata_build_date);
    jw_key(&w, "goVersion");
    jw_string(&w, "");
    jw_object_end(&w);
    http_reply_buf(req, 200, "application/json", &b);
    buf_release(&b);
}

/* Process statistics, read from /proc at scrape time. */
static void process_collector(struct buf *out, void *arg)
{
    struct server *srv = arg;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                 ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
    long rss_pages = 0, vsz_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &vsz_pages, &rss_pages) != 2)
            rss_pages = vsz_pages = 0;
        fclose(f);
    }
    long page = sysconf(_SC_PAGESIZE);
    int fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                fds++;
        closedir(d);
        fds--; /* the directory stream itself */
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    int rc = buf_printf(
        out,
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.3f\n"
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n"
        "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
        "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %ld\n"
        "# HELP process_open_fds Number of open file descriptors.\n"
        "# TYPE process_open_fds gauge\nprocess_open_fds %d\n"
        "# HELP process_max_fds Maximum number of open file descriptors.\n"
        "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n"
        "# HELP process_start_time_seconds Start time of the process since the epoch in "
        "seconds.\n"
        "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.3f\n"
        "# HELP strata_build_info Build information; the value is always 1.\n"
        "# TYPE strata_build_info gauge\n"
        "strata_build_info{version=\"%s\",revision=\"%s\",loki_api=\"%s\"} 1\n",
        cpu, rss_pages * page, vsz_pages * page, fds, (unsigned long long)rl.rlim_cur,
        (double)srv->start_ns / 1e9, strata_version, strata_revision, strata_loki_version);
    (void)rc;
}

HANDLER(h_metrics)
{
    (void)ctx;
    struct buf b;
    buf_init(&b, 64u << 20);
    if (metrics_render(&b) < 0) {
        buf_release(&b);
        http_reply_text(req, 500, "metrics exposition larger than 64 MiB");
        return;
    }
    http_reply_buf(req, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
    buf_release(&b);
}

void status_metrics_start(struct server *srv)
{
    metrics_register_collector(process_collector, srv);
}

void status_metrics_stop(struct server *srv)
{
    metrics_unregister_collector(process_collector, srv);
}
