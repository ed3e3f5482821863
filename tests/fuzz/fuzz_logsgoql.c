/* Fuzz target: the LogsGoQL parser and the plans it builds, run over a few entries. */
#include <stdint.h>

#include "query/logsgoql.h"
#include "query/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    struct arena a;
    arena_init(&a, 0);
    struct plan p;
    char err[512];
    if (plan_parse_logsgoql((struct slice){(const char *)data, size}, &a, &p, err, sizeof(err)) ==
        0) {
        struct label base[] = {{SLICE_LIT("env"), SLICE_LIT("prod")},
                               {SLICE_LIT("level"), SLICE_LIT("warn")},
                               {SLICE_LIT("service"), SLICE_LIT("ap-south1")}};
        struct pipe_state ps;
        pipe_state_init(&ps);
        for (uint32_t b = 0; b < p.root->n_log; b++) {
            const struct log_expr *l = &p.root->log[b];
            if (!selector_matches(&l->sel, base, 3))
                continue;
            pipe_begin(&ps, base, 3, (struct slice){"", 0});
            struct slice line = SLICE_LIT("disk almost full");
            pipe_run(&ps, l->stages, l->n_stages, 0, &line);
        }
        pipe_state_release(&ps);
        struct buf out;
        buf_init(&out, 1 << 20);
        (void)plan_format(&out, &p);
        buf_release(&out);
        plan_release(&p);
    }
    arena_release(&a);
    return 0;
}
