/*
 * Fuzz target: the LogQL parser, the plan formatter and the pipeline. A query
 * that parses is formatted back, and a log query's stages run over a few
 * typical lines (JSON, logfmt, plain, ANSI colours, invalid UTF-8).
 */
#include <stdint.h>

#include "query/pipeline.h"
#include "query/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const lines[] = {
    "{\"level\":\"info\",\"status\":200,\"user\":{\"id\":7,\"name\":\"ann\"},\"t\":[1,2]}",
    "level=error status=500 msg=\"boom \\\"x\\\"\" took=1.5s size=2KiB",
    "10.0.0.1 - GET /index.html 200 512",
    "\x1b[31mred\x1b[0m \xff\xfe not utf-8",
    "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    struct arena a;
    arena_init(&a, 0);
    struct plan p;
    char err[512];
    if (plan_parse_logql((struct slice){(const char *)data, size}, &a, &p, err, sizeof(err)) == 0) {
        struct buf b;
        buf_init(&b, 1 << 20);
        (void)plan_format(&b, &p);
        buf_release(&b);
        const struct expr *e = p.root;
        while (e && e->kind != EXPR_LOG && e->kind != EXPR_RANGE)
            e = e->kind == EXPR_BINARY ? e->lhs : e->arg;
        if (e) {
            struct pipe_state ps;
            pipe_state_init(&ps);
            struct label base[] = {{SLICE_LIT("app"), SLICE_LIT("api")},
                                   {SLICE_LIT("level"), SLICE_LIT("debug")}};
            for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
                pipe_begin(&ps, base, 2, (struct slice){"", 0});
                struct slice line = slice_from(lines[i]);
                const struct log_expr *l = &e->log[0];
                if (pipe_run(&ps, l->stages, l->n_stages, 1700000000000000000LL, &line)) {
                    struct label *v;
                    pipe_labels(&ps, CATS_ALL, &v);
                    if (e->kind == EXPR_RANGE && e->n_post) {
                        struct slice empty = {"", 0};
                        pipe_run(&ps, e->post, e->n_post, 0, &empty);
                    }
                }
            }
            pipe_state_release(&ps);
        }
        plan_release(&p);
    }
    arena_release(&a);
    return 0;
}
