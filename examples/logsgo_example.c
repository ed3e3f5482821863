/*
 * logsgo_example.c - LogsGO's example application (logsGO-instrumentation-example),
 * written against libstrata.
 *
 * Like the original it uploads two logs with fixed old timestamps, then rounds
 * of logs from the services ap-south1 and us-west1 at the levels info, warn
 * and error, with its six messages, one upload at a time. With --async the
 * logs go through libstrata's batching queue instead and are flushed at the
 * end of each round.
 *
 *     cc logsgo_example.c $(pkg-config --cflags --libs strata) -o logsgo_example
 *     ./logsgo_example --addr 127.0.0.1:9095 --rounds 3 --interval 1
 *
 * The fixed timestamps are from 2025, so a server must accept old entries
 * (strata --limits.reject-old-samples=false), or use --no-fixed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strata.h>
#include <time.h>

static const char *const messages[] = {
    "Service timed out", "Connection refused",    "Database unavailable",
    "Cache miss",        "Authentication failed", "Context deadline exceeded",
};
static const char *const levels[] = {"info", "warn", "error"};
static const char *const services[] = {"ap-south1", "us-west1"};
static const long long fixed_timestamps[] = {
    1746307232, /* LogsGO: "goes to s3 (if configured)" */
    1748553632, /* LogsGO: "goes to local storage" */
};

static void usage(void)
{
    fprintf(stderr,
            "usage: logsgo_example [--addr HOST:PORT|URL] [--transport grpc|http|http-json]\n"
            "         [--rounds N] [--interval SECONDS] [--async] [--no-fixed]\n"
            "         [--tenant ID] [--token TOKEN] [--label NAME=VALUE]\n");
    exit(2);
}

static void pause_for(double seconds)
{
    if (seconds <= 0)
        return;
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1:9095";
    int rounds = 3, fixed = 1;
    double interval = 1;
    struct strata_options o;
    strata_options_init(&o);
    struct strata_label extra = {NULL, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--async")) {
            o.async = 1;
        } else if (!strcmp(a, "--no-fixed")) {
            fixed = 0;
        } else if (!v) {
            usage();
        } else if (!strcmp(a, "--addr")) {
            addr = v, i++;
        } else if (!strcmp(a, "--rounds")) {
            rounds = (int)strtol(v, NULL, 10), i++;
        } else if (!strcmp(a, "--interval")) {
            interval = strtod(v, NULL), i++;
        } else if (!strcmp(a, "--tenant")) {
            o.tenant = v, i++;
        } else if (!strcmp(a, "--token")) {
            o.bearer_token = v, i++;
        } else if (!strcmp(a, "--label") && strchr(v, '=')) {
            static char name[128];
            snprintf(name, sizeof(name), "%.*s", (int)(strchr(v, '=') - v), v);
            extra = (struct strata_label){name, strchr(v, '=') + 1};
            i++;
        } else if (!strcmp(a, "--transport")) {
            o.transport = !strcmp(v, "http")        ? STRATA_TRANSPORT_HTTP_PROTOBUF
                          : !strcmp(v, "http-json") ? STRATA_TRANSPORT_HTTP_JSON
                                                    : STRATA_TRANSPORT_GRPC;
            i++;
        } else {
            usage();
        }
    }

    struct strata_client *c;
    if (strata_client_new(addr, &o, &c) < 0) {
        fprintf(stderr, "logsgo_example: %s\n", strata_last_error());
        return 1;
    }
    int failed = 0, uploaded = 0;
    for (int i = 0; fixed && i < 2; i++) {
        struct strata_log log = {services[i % 2],
                                 levels[i % 3],
                                 messages[i % 6],
                                 fixed_timestamps[i],
                                 extra.name ? &extra : NULL,
                                 extra.name ? 1 : 0};
        if (strata_upload_log(c, &log) < 0) {
            fprintf(stderr, "log upload failed: %s\n", strata_last_error());
            failed++;
            continue;
        }
        uploaded++;
        printf("Uploaded log: {Service:%s Level:%s Message:%s Timestamp:%lld}\n", log.service,
               log.level, log.message, (long long)log.timestamp);
        fflush(stdout);
        pause_for(interval);
    }
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < 3; j++) {
            /* LogsGO's pairs: (levels[j], services[j], messages[j]) then the next ones. */
            struct strata_log pair[2] = {
                {services[j % 2], levels[j % 3], messages[j % 6], 0, NULL, 0},
                {services[(j + 1) % 2], levels[(j + 1) % 3], messages[(j + 3) % 6], 0, NULL, 0},
            };
            for (int k = 0; k < 2; k++) {
                if (extra.name) {
                    pair[k].labels = &extra;
                    pair[k].n_labels = 1;
                }
                if (strata_upload_log(c, &pair[k]) < 0) {
                    fprintf(stderr, "log upload failed: %s\n", strata_last_error());
                    failed++;
                    continue;
                }
                uploaded++;
                printf("Uploaded log: {Service:%s Level:%s Message:%s Timestamp:now}\n",
                       pair[k].service, pair[k].level, pair[k].message);
                fflush(stdout);
                pause_for(interval);
            }
        }
        if (o.async && strata_flush(c, 30000) < 0) {
            fprintf(stderr, "flush: %s\n", strata_last_error());
            failed++;
        }
    }
    if (strata_client_close(c) < 0) {
        fprintf(stderr, "close: %s\n", strata_last_error());
        failed++;
    }
    printf("%d logs uploaded, %d failures\n", uploaded, failed);
    return failed ? 1 : 0;
}
