/* Fuzz target: every parser of S3 answers (XML bodies, Content-Range, url-encoded keys). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "remote/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct arena a;
    arena_init(&a, 0);
    struct s3_xml_error e;
    s3_xml_parse_error(p, size, &e);
    struct s3_list_result l;
    if (s3_xml_parse_list(p, size, &a, &l) == 0) {
        for (size_t i = 0; i < l.n_objects; i++)
            if (!l.objects[i].key || l.objects[i].size < 0)
                abort();
    }
    struct s3_uploads_result u;
    s3_xml_parse_uploads(p, size, &a, &u);
    struct s3_delete_result d;
    s3_xml_parse_delete(p, size, &a, &d);
    char *text = NULL;
    s3_xml_child_text(p, size, "UploadId", &a, &text);
    char root[64];
    s3_xml_root_name(p, size, root, sizeof(root));
    struct buf b;
    buf_init(&b, 1 << 16);
    xml_text_decode(&b, slice_make(p, size));
    buf_release(&b);
    int64_t f, la, t;
    s3_parse_content_range(slice_make(p, size < 128 ? size : 128), &f, &la, &t);
    char *copy = malloc(size + 1);
    if (copy) {
        memcpy(copy, p, size);
        copy[size] = '\0';
        s3_url_decode_inplace(copy, size);
        free(copy);
    }
    arena_release(&a);
    return 0;
}
