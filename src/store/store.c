#include "store/store.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "store/head.h"

struct store {
    struct tier *head;
};

int store_open(const struct config *cfg, struct store **out, char *err, size_t errlen)
{
    (void)cfg;
    (void)err;
    (void)errlen;
    struct store *s = xcalloc(1, sizeof(*s));
    s->head = head_new();
    *out = s;
    return 0;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    for (struct tier *t = s->head; t;) {
        struct tier *next = t->next;
        t->ops->close(t);
        t = next;
    }
    free(s);
}

int store_push(struct store *s, struct push_batch *b, struct push_result *res)
{
    return head_append(s->head, b, res);
}

struct tier *store_chain(struct store *s)
{
    return s->head;
}
