/*
 * Unit tests of src/remote's S3 client pieces that need no server: SigV4
 * against AWS's published examples, the XML answers, the configuration, the
 * retry policy and the on-disk cache. (The client against a real S3 is
 * tested by tests/integration/test_s3*.py.)
 *
 * The SigV4 expectations are AWS's documented values ("Signature
 * Calculations for the Authorization Header", examples for GET Object, PUT
 * Object, GET Bucket Lifecycle and GET Bucket (List Objects); "Deriving the
 * signing key" for IAM), each re-derived independently with Python's
 * hmac/hashlib before being written here; the session-token vector was
 * derived the same way.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "remote/s3.h"
#include "remote/s3_cache.h"
#include "remote/s3_config.h"
#include "remote/s3_xml.h"
#include "remote/sigv4.h"
#include "test.h"

/* ---- SigV4 ---------------------------------------------------------------- */

#define EX_ACCESS "AKIAIOSFODNN7EXAMPLE"
#define EX_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EX_DATE   "20130524T000000Z"
#define EX_HOST   "examplebucket.s3.amazonaws.com"

static void hex32(const uint8_t *k, char *out)
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", k[i]);
}

TEST(sigv4_signing_key_matches_the_iam_example)
{
    uint8_t k[32];
    char hex[65];
    sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam",
                      k);
    hex32(k, hex);
    ASSERT_EQ_STR(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

TEST(sigv4_get_object_example)
{
    struct sigv4_header hs[] = {{"Host", EX_HOST},
                                {"Range", "bytes=0-9"},
                                {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
                                {"x-amz-date", EX_DATE}};
    struct sigv4_request r = {"GET", "/test.txt", NULL, 0, hs, 4, SIGV4_EMPTY_SHA256};
    struct sigv4_credentials cr = {EX_ACCESS, EX_SECRET, "us-east-1", "s3"};
    struct buf auth, creq, sts;
    buf_init(&auth, 4096);
    buf_init(&creq, 4096);
    buf_init(&sts, 4096);
    ASSERT_EQ_INT(sigv4_sign(&cr, EX_DATE, &r, &auth, &creq, &sts), 0);
    ASSERT_EQ_STR(creq.ptr, "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
                            "range:bytes=0-9\n"
                            "x-amz-content-sha256:" SIGV4_EMPTY_SHA256 "\n"
                            "x-amz-date:20130524T000000Z\n\n"
                            "host;range;x-amz-content-sha256;x-amz-date\n" SIGV4_EMPTY_SHA256);
    ASSERT_EQ_STR(sts.ptr,
                  "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                  "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    ASSERT_EQ_STR(auth.ptr,
                  "AWS4-HMAC-SHA256 "
                  "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                  "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                  "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    buf_release(&auth);
    buf_release(&creq);
    buf_release(&sts);
}

static const char *sig_of(const struct buf *auth)
{
    const char *p = strstr(auth->ptr, "Signature=");
    return p ? p + 10 : "";
}

TEST(sigv4_put_object_example)
{
    const char *body = "Welcome to Amazon S3.";
    char hash[65];
    sigv4_sha256_hex(body, strlen(body), hash);
    ASSERT_EQ_STR(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    struct buf path;
    buf_init(&path, 256);
    ASSERT_EQ_INT(buf_append_char(&path, '/'), 0);
    ASSERT_EQ_INT(sigv4_uri_encode(&path, "test$file.text", 14, true), 0);
    ASSERT_EQ_STR(path.ptr, "/test%24file.text");
    struct sigv4_header hs[] = {{"Host", EX_HOST},
                                {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                                {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                                {"x-amz-content-sha256", hash},
                                {"x-amz-date", EX_DATE}};
    struct sigv4_request r = {"PUT", path.ptr, NULL, 0, hs, 5, hash};
    struct sigv4_credentials cr = {EX_ACCESS, EX_SECRET, "us-east-1", "s3"};
    struct buf auth;
    buf_init(&auth, 4096);
    ASSERT_EQ_INT(sigv4_sign(&cr, EX_DATE, &r, &auth, NULL, NULL), 0);
    ASSERT_TRUE(strstr(auth.ptr, "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;"
                                 "x-amz-storage-class,") != NULL);
    ASSERT_EQ_STR(sig_of(&auth),
                  "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    buf_release(&auth);
    buf_release(&path);
}

TEST(sigv4_lifecycle_and_list_examples)
{
    struct sigv4_header hs[] = {
        {"Host", EX_HOST}, {"x-amz-content-sha256", SIGV4_EMPTY_SHA256}, {"x-amz-date", EX_DATE}};
    struct sigv4_credentials cr = {EX_ACCESS, EX_SECRET, "us-east-1", "s3"};
    struct sigv4_param lc[] = {{"lifecycle", NULL}};
    struct sigv4_request r = {"GET", "/", lc, 1, hs, 3, SIGV4_EMPTY_SHA256};
    struct buf auth;
    buf_init(&auth, 4096);
    ASSERT_EQ_INT(sigv4_sign(&cr, EX_DATE, &r, &auth, NULL, NULL), 0);
    ASSERT_EQ_STR(sig_of(&auth),
                  "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    /* Parameters given out of order: the canonical query sorts them. */
    struct sigv4_param lp[] = {{"prefix", "J"}, {"max-keys", "2"}};
    r.params = lp;
    r.n_params = 2;
    buf_reset(&auth);
    ASSERT_EQ_INT(sigv4_sign(&cr, EX_DATE, &r, &auth, NULL, NULL), 0);
    ASSERT_EQ_STR(sig_of(&auth),
                  "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    buf_release(&auth);
}

TEST(sigv4_session_token_and_encoded_query)
{
    struct sigv4_header hs[] = {{"host", "127.0.0.1:9000"},
                                {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
                                {"x-amz-date", "20240101T120000Z"},
                                {"x-amz-security-token", "FQoGZXIvYXdzEXAMPLE/token+with=chars"}};
    struct sigv4_param ps[] = {{"list-type", "2"}, {"continuation-token", "1/2+3="}};
    struct sigv4_request r = {"GET", "/bkt/logs/part%201", ps, 2, hs, 4, SIGV4_EMPTY_SHA256};
    struct sigv4_credentials cr = {"test:tester", "secret/key+1", "eu-west-3", "s3"};
    struct buf auth, creq;
    buf_init(&auth, 4096);
    buf_init(&creq, 4096);
    ASSERT_EQ_INT(sigv4_sign(&cr, "20240101T120000Z", &r, &auth, &creq, NULL), 0);
    ASSERT_TRUE(strstr(creq.ptr, "\ncontinuation-token=1%2F2%2B3%3D&list-type=2\n") != NULL);
    ASSERT_EQ_STR(sig_of(&auth),
                  "5ffbb58fa739811b5f77e3f78473439b8e10a0c06b9e86af3e8619fb626df2cc");
    ASSERT_TRUE(strstr(auth.ptr, "Credential=test:tester/20240101/eu-west-3/s3/aws4_request") !=
                NULL);
    buf_release(&auth);
    buf_release(&creq);
}

TEST(sigv4_encoding_rules)
{
    struct buf b;
    buf_init(&b, 1024);
    const char *k = "a b/c~d_e.f-g+h=i&j%\xc3\xa9";
    ASSERT_EQ_INT(sigv4_uri_encode(&b, k, strlen(k), true), 0);
    ASSERT_EQ_STR(b.ptr, "a%20b/c~d_e.f-g%2Bh%3Di%26j%25%C3%A9");
    buf_reset(&b);
    ASSERT_EQ_INT(sigv4_uri_encode(&b, k, strlen(k), false), 0);
    ASSERT_EQ_STR(b.ptr, "a%20b%2Fc~d_e.f-g%2Bh%3Di%26j%25%C3%A9");
    /* Sorted by encoded name, then value; empty values keep their '='. */
    buf_reset(&b);
    struct sigv4_param ps[] = {
        {"prefix", "x/y"}, {"b", "2"}, {"b", "1"}, {"uploads", ""}, {"A", NULL}};
    ASSERT_EQ_INT(sigv4_canonical_query(&b, ps, 5), 0);
    ASSERT_EQ_STR(b.ptr, "A=&b=1&b=2&prefix=x%2Fy&uploads=");
    /* Header values are trimmed and inner runs of spaces collapsed; duplicates refused. */
    struct sigv4_header hs[] = {{"X-Amz-Meta-A", "  a   b  "}, {"host", "h"}};
    struct sigv4_request r = {"GET", "/", NULL, 0, hs, 2, SIGV4_EMPTY_SHA256};
    struct sigv4_credentials cr = {"k", "s", "us-east-1", "s3"};
    struct buf auth, creq;
    buf_init(&auth, 4096);
    buf_init(&creq, 4096);
    ASSERT_EQ_INT(sigv4_sign(&cr, "20240101T000000Z", &r, &auth, &creq, NULL), 0);
    ASSERT_TRUE(strstr(creq.ptr, "\nhost:h\nx-amz-meta-a:a b\n\nhost;x-amz-meta-a\n") != NULL);
    struct sigv4_header dup[] = {{"Host", "a"}, {"host", "b"}};
    r.headers = dup;
    ASSERT_EQ_INT(sigv4_sign(&cr, "20240101T000000Z", &r, &auth, NULL, NULL), STRATA_EINVAL);
    r.headers = hs;
    ASSERT_EQ_INT(sigv4_sign(&cr, "2024-01-01", &r, &auth, NULL, NULL), STRATA_EINVAL);
    char date[17];
    sigv4_amz_date(1369353600, date);
    ASSERT_EQ_STR(date, "20130524T000000Z");
    char md5[25];
    sigv4_content_md5("<Delete></Delete>", 17, md5);
    ASSERT_EQ_STR(md5, "R2cEG0GhQVRNiyXR3QnSyw==");
    struct sigv4_sha256 h;
    char hex[65];
    ASSERT_EQ_INT(sigv4_sha256_init(&h), 0);
    ASSERT_EQ_INT(sigv4_sha256_update(&h, "Welcome to ", 11), 0);
    ASSERT_EQ_INT(sigv4_sha256_update(&h, "Amazon S3.", 10), 0);
    ASSERT_EQ_INT(sigv4_sha256_final(&h, hex), 0);
    ASSERT_EQ_STR(hex, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    buf_release(&b);
    buf_release(&auth);
    buf_release(&creq);
}

/* ---- XML ------------------------------------------------------------------ */

TEST(s3_xml_error_bodies)
{
    const char *swift = "<?xml version='1.0' encoding='UTF-8'?>\n"
                        "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature "
                        "we calculated does not match &amp; so on</Message>"
                        "<AWSAccessKeyId>test:tester</AWSAccessKeyId>"
                        "<StringToSign>AWS4-HMAC-SHA256\n...</StringToSign>"
                        "<RequestId>tx1234</RequestId></Error>";
    struct s3_xml_error e;
    ASSERT_EQ_INT(s3_xml_parse_error(swift, strlen(swift), &e), 0);
    ASSERT_EQ_STR(e.code, "SignatureDoesNotMatch");
    ASSERT_EQ_STR(e.message, "The request signature we calculated does not match & so on");
    ASSERT_EQ_STR(e.request_id, "tx1234");
    const char *key = "<Error><Code>NoSuchKey</Code><Message>x</Message><Key>a/b</Key></Error>";
    ASSERT_EQ_INT(s3_xml_parse_error(key, strlen(key), &e), 0);
    ASSERT_EQ_STR(e.resource, "a/b");
    const char *notxml = "<html><body>502 Bad Gateway</body></html>";
    ASSERT_EQ_INT(s3_xml_parse_error(notxml, strlen(notxml), &e), STRATA_EPARSE);
    ASSERT_EQ_STR(e.code, "");
    ASSERT_EQ_INT(s3_xml_parse_error("", 0, &e), STRATA_EPARSE);
    char root[32];
    ASSERT_EQ_INT(s3_xml_root_name(swift, strlen(swift), root, sizeof(root)), 0);
    ASSERT_EQ_STR(root, "Error");
}

TEST(s3_xml_list_page)
{
    const char *doc =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
        "  <Name>bkt</Name><Prefix>logs%2F</Prefix><KeyCount>2</KeyCount>\n"
        "  <MaxKeys>2</MaxKeys><EncodingType>url</EncodingType>\n"
        "  <IsTruncated>true</IsTruncated>\n"
        "  <NextContinuationToken>bG9ncy9i</NextContinuationToken>\n"
        "  <Contents><Key>logs/a%20b</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified>"
        "<ETag>&quot;abc&quot;</ETag><Size>11</Size>"
        "<Owner><ID>x</ID><DisplayName>y</DisplayName></Owner>"
        "<StorageClass>STANDARD</StorageClass></Contents>\n"
        "  <Contents><Key>logs/b</Key><Size>0</Size><ETag>\"d\"</ETag></Contents>\n"
        "  <CommonPrefixes><Prefix>logs/t%2F</Prefix></CommonPrefixes>\n"
        "</ListBucketResult>";
    struct arena a;
    arena_init(&a, 0);
    struct s3_list_result r;
    ASSERT_EQ_INT(s3_xml_parse_list(doc, strlen(doc), &a, &r), 0);
    ASSERT_EQ_INT(r.n_objects, 2);
    ASSERT_EQ_STR(r.objects[0].key, "logs/a b");
    ASSERT_EQ_INT(r.objects[0].size, 11);
    ASSERT_EQ_STR(r.objects[0].etag, "\"abc\"");
    ASSERT_EQ_INT(r.objects[0].last_modified_ns, INT64_C(1704164645000000000));
    ASSERT_EQ_STR(r.objects[1].key, "logs/b");
    ASSERT_EQ_INT(r.objects[1].size, 0);
    ASSERT_EQ_INT(r.n_prefixes, 1);
    ASSERT_EQ_STR(r.prefixes[0], "logs/t/");
    ASSERT_TRUE(r.truncated);
    ASSERT_EQ_STR(r.next_token, "bG9ncy9i");
    /* A last page; an entry without a key or size is malformed. */
    const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    ASSERT_EQ_INT(s3_xml_parse_list(last, strlen(last), &a, &r), 0);
    ASSERT_FALSE(r.truncated);
    ASSERT_EQ_INT(r.n_objects, 0);
    ASSERT_TRUE(r.next_token == NULL);
    const char *bad = "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>";
    ASSERT_EQ_INT(s3_xml_parse_list(bad, strlen(bad), &a, &r), STRATA_EPARSE);
    const char *wrong = "<Error><Code>X</Code></Error>";
    ASSERT_EQ_INT(s3_xml_parse_list(wrong, strlen(wrong), &a, &r), STRATA_EPARSE);
    arena_release(&a);
}

TEST(s3_xml_many_contents_grow)
{
    struct buf doc;
    buf_init(&doc, 1 << 20);
    ASSERT_EQ_INT(buf_append_str(&doc, "<ListBucketResult>"), 0);
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ_INT(
            buf_printf(&doc, "<Contents><Key>k%04d</Key><Size>%d</Size></Contents>", i, i), 0);
    ASSERT_EQ_INT(buf_append_str(&doc, "</ListBucketResult>"), 0);
    struct arena a;
    arena_init(&a, 0);
    struct s3_list_result r;
    ASSERT_EQ_INT(s3_xml_parse_list(doc.ptr, doc.len, &a, &r), 0);
    ASSERT_EQ_INT(r.n_objects, 1000);
    ASSERT_EQ_STR(r.objects[999].key, "k0999");
    ASSERT_EQ_INT(r.objects[999].size, 999);
    arena_release(&a);
    buf_release(&doc);
}

TEST(s3_xml_uploads_delete_and_child_text)
{
    struct arena a;
    arena_init(&a, 0);
    const char *up = "<ListMultipartUploadsResult><Bucket>b</Bucket>"
                     "<NextKeyMarker>k2</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>"
                     "<IsTruncated>true</IsTruncated>"
                     "<Upload><Key>k1</Key><UploadId>u1</UploadId>"
                     "<Initiated>2024-01-02T03:04:05Z</Initiated></Upload>"
                     "<Upload><Key>k2</Key><UploadId>u2</UploadId></Upload>"
                     "</ListMultipartUploadsResult>";
    struct s3_uploads_result u;
    ASSERT_EQ_INT(s3_xml_parse_uploads(up, strlen(up), &a, &u), 0);
    ASSERT_EQ_INT(u.n_uploads, 2);
    ASSERT_EQ_STR(u.uploads[1].upload_id, "u2");
    ASSERT_EQ_INT(u.uploads[0].initiated_ns, INT64_C(1704164645000000000));
    ASSERT_TRUE(u.truncated);
    ASSERT_EQ_STR(u.next_key_marker, "k2");
    const char *del = "<DeleteResult><Deleted><Key>a</Key></Deleted>"
                      "<Error><Key>b&lt;1&gt;</Key><Code>AccessDenied</Code><Message>no</Message>"
                      "</Error><Deleted><Key>c</Key></Deleted></DeleteResult>";
    struct s3_delete_result d;
    ASSERT_EQ_INT(s3_xml_parse_delete(del, strlen(del), &a, &d), 0);
    ASSERT_EQ_INT(d.n_deleted, 2);
    ASSERT_EQ_INT(d.n_failed, 1);
    ASSERT_EQ_STR(d.failed[0].key, "b<1>");
    ASSERT_EQ_STR(d.failed[0].code, "AccessDenied");
    const char *init = "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                       "<UploadId><![CDATA[abc&def]]></UploadId></InitiateMultipartUploadResult>";
    char *id = NULL;
    ASSERT_EQ_INT(s3_xml_child_text(init, strlen(init), "UploadId", &a, &id), 0);
    ASSERT_EQ_STR(id, "abc&def");
    ASSERT_EQ_INT(s3_xml_child_text(init, strlen(init), "ETag", &a, &id), STRATA_ENOTFOUND);
    arena_release(&a);
}

TEST(s3_xml_rejects_malformed_documents)
{
    static const char *const bad[] = {
        "<a><b></a></b>",                             /* crossed */
        "<a>",                                        /* unclosed */
        "<a></a><b></b>",                             /* two roots */
        "text<a></a>",                                /* text outside */
        "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", /* no DTDs */
        "<a x=\"1></a>",                              /* unterminated attribute */
        "<a><!-- never closed </a>",
        "<a><![CDATA[ never closed </a>",
        "",
        "<a / >",
        "<<a></a>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct xml_reader r;
        xml_reader_init(&r, bad[i], strlen(bad[i]));
        struct xml_event ev;
        int rc;
        while ((rc = xml_next(&r, &ev)) > 0)
            ;
        if (rc != STRATA_EPARSE)
            fprintf(stderr, "    accepted: %s\n", bad[i]);
        ASSERT_EQ_INT(rc, STRATA_EPARSE);
        ASSERT_TRUE(xml_reader_error(&r) != NULL);
    }
    /* Nesting deeper than S3_XML_MAX_DEPTH. */
    struct buf deep;
    buf_init(&deep, 4096);
    for (int i = 0; i < S3_XML_MAX_DEPTH + 1; i++)
        ASSERT_EQ_INT(buf_append_str(&deep, "<a>"), 0);
    struct xml_reader r;
    xml_reader_init(&r, deep.ptr, deep.len);
    struct xml_event ev;
    int rc;
    while ((rc = xml_next(&r, &ev)) > 0)
        ;
    ASSERT_EQ_INT(rc, STRATA_EPARSE);
    buf_release(&deep);
    /* Self-closing elements and attributes holding '>' are fine. */
    const char *ok = "<a x='>' y=\"/\"><b/><c k=\"v\"/></a>";
    xml_reader_init(&r, ok, strlen(ok));
    int starts = 0, ends = 0;
    while ((rc = xml_next(&r, &ev)) > 0) {
        starts += ev.type == XML_START;
        ends += ev.type == XML_END;
    }
    ASSERT_EQ_INT(rc, 0);
    ASSERT_EQ_INT(starts, 3);
    ASSERT_EQ_INT(ends, 3);
}

TEST(s3_xml_text_entities)
{
    struct buf b;
    buf_init(&b, 256);
    ASSERT_EQ_INT(xml_text_decode(&b, SLICE_LIT("a&lt;b&gt;&amp;&quot;&apos;&#65;&#x263A;")), 0);
    ASSERT_EQ_STR(b.ptr, "a<b>&\"'A\xe2\x98\xba");
    buf_reset(&b);
    ASSERT_EQ_INT(xml_text_decode(&b, SLICE_LIT("&nbsp;")), STRATA_EPARSE);
    ASSERT_EQ_INT(xml_text_decode(&b, SLICE_LIT("&#0;")), STRATA_EPARSE);
    ASSERT_EQ_INT(xml_text_decode(&b, SLICE_LIT("&#xD800;")), STRATA_EPARSE);
    ASSERT_EQ_INT(xml_text_decode(&b, SLICE_LIT("&#x110000;")), STRATA_EPARSE);
    ASSERT_EQ_INT(xml_text_decode(&b, SLICE_LIT("a & b")), STRATA_EPARSE);
    buf_reset(&b);
    ASSERT_EQ_INT(xml_escape(&b, "<k&'\">", 6), 0);
    ASSERT_EQ_STR(b.ptr, "&lt;k&amp;&apos;&quot;&gt;");
    char s[] = "a%2Fb%20c";
    ASSERT_EQ_INT(s3_url_decode_inplace(s, strlen(s)), 5);
    ASSERT_EQ_STR(s, "a/b c");
    char t[] = "bad%2";
    ASSERT_EQ_INT(s3_url_decode_inplace(t, strlen(t)), -1);
    buf_release(&b);
}

TEST(s3_content_range)
{
    int64_t f, l, t;
    ASSERT_EQ_INT(s3_parse_content_range(SLICE_LIT("bytes 0-9/443"), &f, &l, &t), 0);
    ASSERT_EQ_INT(f, 0);
    ASSERT_EQ_INT(l, 9);
    ASSERT_EQ_INT(t, 443);
    ASSERT_EQ_INT(s3_parse_content_range(SLICE_LIT("bytes */443"), &f, &l, &t), 0);
    ASSERT_EQ_INT(f, -1);
    ASSERT_EQ_INT(t, 443);
    ASSERT_EQ_INT(s3_parse_content_range(SLICE_LIT("bytes 5-9/*"), &f, &l, &t), 0);
    ASSERT_EQ_INT(t, -1);
    ASSERT_EQ_INT(s3_parse_content_range(SLICE_LIT("bytes 9-5/10"), &f, &l, &t), STRATA_EPARSE);
    ASSERT_EQ_INT(s3_parse_content_range(SLICE_LIT("bytes 0-10/10"), &f, &l, &t), STRATA_EPARSE);
    ASSERT_EQ_INT(s3_parse_content_range(SLICE_LIT("items 0-1/2"), &f, &l, &t), STRATA_EPARSE);
    ASSERT_EQ_INT(s3_parse_content_range(SLICE_LIT("bytes 0-1/2x"), &f, &l, &t), STRATA_EPARSE);
}

/* ---- configuration -------------------------------------------------------- */

struct fake_env {
    const char *const *kv; /* name, value, name, value, ..., NULL */
};

static const char *fake_getenv(const char *name, void *arg)
{
    const struct fake_env *e = arg;
    for (const char *const *p = e->kv; p && p[0]; p += 2)
        if (!strcmp(p[0], name))
            return p[1];
    return NULL;
}

static int load(struct s3_config *c, const char *yaml, const char *const *env, char *err,
                size_t errlen)
{
    s3_config_init(c);
    int rc = s3_config_parse_yaml(c, yaml, strlen(yaml), "test.yaml", err, errlen);
    struct fake_env fe = {env};
    if (!rc)
        rc = s3_config_finish(c, fake_getenv, &fe, err, errlen);
    return rc;
}

TEST(s3_config_logsgo_yaml)
{
    struct s3_config c;
    char err[512] = "";
    const char *y = "remote_store:\n"
                    "  provider: \"minio\"\n"
                    "  bucket: \"bkt1\"\n"
                    "  access_key: \"minioadmin\"\n"
                    "  secret_key: \"minioadmin\"\n"
                    "  create_bucket_on_empty: true\n"
                    "  endpoint: \"127.0.0.1:9000\"\n"
                    "  region: eu-west-1\n"
                    "  use_ssl: false\n"
                    "other_section: {a: [1, 2]}\n";
    ASSERT_EQ_INT(load(&c, y, NULL, err, sizeof(err)), 0);
    ASSERT_EQ_STR(c.provider, "minio");
    ASSERT_EQ_STR(c.bucket, "bkt1");
    ASSERT_EQ_STR(c.endpoint, "127.0.0.1:9000");
    ASSERT_EQ_STR(c.region, "eu-west-1");
    ASSERT_EQ_STR(c.access_key, "minioadmin");
    ASSERT_TRUE(c.create_bucket_on_empty);
    ASSERT_FALSE(c.use_ssl);
    ASSERT_EQ_STR(c.credentials_from, "store config");
    ASSERT_TRUE(c.session_token == NULL);
    /* The --s3.* defaults come from the option table. */
    ASSERT_EQ_INT(c.max_retries, 5);
    ASSERT_EQ_UINT(c.part_size, 16u << 20);
    ASSERT_FALSE(c.virtual_hosted);
    ASSERT_EQ_INT(c.delete_batch, 1000);
    s3_config_release(&c);
    /* The inline YAML holds the secret key: it is masked wherever options are shown. */
    ASSERT_TRUE(config_is_secret(config_find("store-config")));
    ASSERT_FALSE(config_is_secret(config_find("store-config-path")));
}

TEST(s3_config_environment_credentials_and_region)
{
    struct s3_config c;
    char err[512] = "";
    const char *y = "remote_store: {provider: s3, endpoint: \"https://s3.example.com/\", "
                    "bucket: logs}\n";
    static const char *const env[] = {"AWS_ACCESS_KEY_ID",
                                      "AKID",
                                      "AWS_SECRET_ACCESS_KEY",
                                      "SK",
                                      "AWS_SESSION_TOKEN",
                                      "TOK",
                                      "AWS_REGION",
                                      "ap-south-1",
                                      NULL};
    ASSERT_EQ_INT(load(&c, y, env, err, sizeof(err)), 0);
    ASSERT_EQ_STR(c.access_key, "AKID");
    ASSERT_EQ_STR(c.secret_key, "SK");
    ASSERT_EQ_STR(c.session_token, "TOK");
    ASSERT_EQ_STR(c.region, "ap-south-1");
    ASSERT_TRUE(c.use_ssl); /* from the https:// scheme */
    ASSERT_EQ_STR(c.credentials_from, "environment");
    s3_config_release(&c);
    /* Keys in the YAML win, and an unrelated session token from the environment is not used. */
    const char *y2 = "remote_store: {provider: s3, endpoint: h, bucket: b, access_key: a, "
                     "secret_key: s}\n";
    ASSERT_EQ_INT(load(&c, y2, env, err, sizeof(err)), 0);
    ASSERT_EQ_STR(c.access_key, "a");
    ASSERT_TRUE(c.session_token == NULL);
    ASSERT_EQ_STR(c.region, "ap-south-1");
    s3_config_release(&c);
    ASSERT_EQ_INT(load(&c, y2, NULL, err, sizeof(err)), 0);
    ASSERT_EQ_STR(c.region, "us-east-1");
    s3_config_release(&c);
}

TEST(s3_config_clear_errors)
{
    struct s3_config c;
    char err[512];
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"remote_store: {endpoint: h, bucket: b, access_key: a, secret_key: s}",
         "remote_store.provider is blank"},
        {"remote_store: {provider: \" \", endpoint: h, bucket: b}",
         "remote_store.provider is blank"},
        {"remote_store: {provider: p, bucket: b, access_key: a, secret_key: s}",
         "remote_store.endpoint is blank"},
        {"remote_store: {provider: p, endpoint: h, bucket: \"\", access_key: a, secret_key: s}",
         "remote_store.bucket is blank"},
        {"remote_store: {provider: p, endpoint: h, bucket: b}",
         "access_key and secret_key are blank"},
        {"remote_store: {provider: p, endpoint: h, bucket: b, access_key: a}",
         "remote_store.secret_key is blank but access_key is set"},
        {"remote_store: {provider: p, endpoint: h, bucket: b, access_key: a, secret_key: s, "
         "use_ssl: maybe}",
         "use_ssl: \"maybe\" is not true or false"},
        {"remote_store: {provider: p, endpoint: \"http://h\", bucket: b, access_key: a, "
         "secret_key: s, use_ssl: true}",
         "says http:// but use_ssl is true"},
        {"remote_store: {provider: p, endpoint: \"h:9000/path\", bucket: b, access_key: a, "
         "secret_key: s}",
         "not a path"},
        {"remote_store: {provider: p, endpoint: \"ftp://h\", bucket: b, access_key: a, "
         "secret_key: s}",
         "unknown scheme"},
        {"remote_store: {provider: p, endpoint: h, bucket: \"a/b\", access_key: a, secret_key: s}",
         "not a valid bucket name"},
        {"provider: p\nendpoint: h\n", "no remote_store section"},
        {"", "empty"},
        {"remote_store: [1, 2]", "remote_store must be a mapping"},
        {"remote_store: {provider: [p]}", "remote_store.provider must be a single value"},
        {"remote_store: {provider: p\n", "test.yaml:"},
        {"a: &x 1\nremote_store: *x\n", "aliases"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        int rc = load(&c, cases[i].yaml, NULL, err, sizeof(err));
        if (rc == 0 || !strstr(err, cases[i].want))
            fprintf(stderr, "    case %zu: rc %d, err \"%s\", want \"%s\"\n", i, rc, err,
                    cases[i].want);
        ASSERT_EQ_INT(rc, STRATA_EINVAL);
        ASSERT_TRUE(strstr(err, cases[i].want) != NULL);
        s3_config_release(&c);
    }
}

TEST(s3_config_from_server_options)
{
    struct config cfg;
    config_init(&cfg);
    char err[512] = "";
    struct s3_config sc;
    bool configured = true;
    ASSERT_EQ_INT(s3_config_from_options(&cfg, &sc, &configured, err, sizeof(err)), 0);
    ASSERT_FALSE(configured);
    s3_config_release(&sc);
    ASSERT_EQ_INT(config_set(&cfg, "store-config",
                             "remote_store: {provider: p, endpoint: h, bucket: b, access_key: a, "
                             "secret_key: s}",
                             err, sizeof(err)),
                  0);
    ASSERT_EQ_INT(config_set(&cfg, "s3.max-retries", "2", err, sizeof(err)), 0);
    ASSERT_EQ_INT(config_set(&cfg, "s3.virtual-hosted-style", "true", err, sizeof(err)), 0);
    ASSERT_EQ_INT(s3_config_from_options(&cfg, &sc, &configured, err, sizeof(err)), 0);
    ASSERT_TRUE(configured);
    ASSERT_EQ_INT(sc.max_retries, 2);
    ASSERT_TRUE(sc.virtual_hosted);
    s3_config_release(&sc);
    ASSERT_EQ_INT(config_set(&cfg, "store-config-path", "/nonexistent/s3.yaml", err, sizeof(err)),
                  0);
    ASSERT_EQ_INT(s3_config_from_options(&cfg, &sc, &configured, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_TRUE(strstr(err, "--store-config-path and --store-config are both set") != NULL);
    s3_config_release(&sc);
    ASSERT_EQ_INT(config_set(&cfg, "store-config", "", err, sizeof(err)), 0);
    ASSERT_EQ_INT(s3_config_from_options(&cfg, &sc, &configured, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_TRUE(strstr(err, "cannot read --store-config-path /nonexistent/s3.yaml") != NULL);
    s3_config_release(&sc);
    config_release(&cfg);
}

TEST(s3_endpoint_forms)
{
    struct s3_endpoint ep;
    char err[256];
    ASSERT_EQ_INT(s3_endpoint_parse("127.0.0.1:9000", false, &ep, err, sizeof(err)), 0);
    ASSERT_EQ_STR(ep.scheme, "http");
    ASSERT_EQ_STR(ep.host, "127.0.0.1:9000");
    ASSERT_EQ_INT(s3_endpoint_parse("s3.amazonaws.com", true, &ep, err, sizeof(err)), 0);
    ASSERT_EQ_STR(ep.scheme, "https");
    ASSERT_EQ_INT(s3_endpoint_parse("HTTPS://[::1]:9000/", false, &ep, err, sizeof(err)), 0);
    ASSERT_EQ_STR(ep.scheme, "https");
    ASSERT_EQ_STR(ep.host, "[::1]:9000");
    ASSERT_EQ_INT(s3_endpoint_parse("http://", false, &ep, err, sizeof(err)), STRATA_EINVAL);
    ASSERT_EQ_INT(s3_endpoint_parse("user@host", false, &ep, err, sizeof(err)), STRATA_EINVAL);
}

/* ---- retry policy --------------------------------------------------------- */

TEST(s3_retry_policy)
{
    /* Transport: connection refused (7), timeout (28), empty reply (52) retry; TLS verify
     * failures (60) and bad URLs (3) do not. */
    ASSERT_TRUE(s3_retryable(7, 0, NULL));
    ASSERT_TRUE(s3_retryable(28, 0, NULL));
    ASSERT_TRUE(s3_retryable(52, 0, NULL));
    ASSERT_FALSE(s3_retryable(60, 0, NULL));
    ASSERT_FALSE(s3_retryable(3, 0, NULL));
    ASSERT_TRUE(s3_retryable(0, 500, "InternalError"));
    ASSERT_TRUE(s3_retryable(0, 503, "SlowDown"));
    ASSERT_TRUE(s3_retryable(0, 429, ""));
    ASSERT_TRUE(s3_retryable(0, 400, "RequestTimeout"));
    ASSERT_TRUE(s3_retryable(0, 200, "InternalError")); /* CompleteMultipartUpload's 200 */
    ASSERT_FALSE(s3_retryable(0, 403, "SignatureDoesNotMatch"));
    ASSERT_FALSE(s3_retryable(0, 404, "NoSuchKey"));
    ASSERT_FALSE(s3_retryable(0, 400, "InvalidArgument"));
    ASSERT_EQ_INT(s3_status_rc(404), STRATA_ENOTFOUND);
    ASSERT_EQ_INT(s3_status_rc(403), STRATA_EFORBIDDEN);
    ASSERT_EQ_INT(s3_status_rc(401), STRATA_EUNAUTH);
    ASSERT_EQ_INT(s3_status_rc(409), STRATA_EEXISTS);
    ASSERT_EQ_INT(s3_status_rc(416), STRATA_EINVAL);
    ASSERT_EQ_INT(s3_status_rc(503), STRATA_EUNAVAIL);
    ASSERT_EQ_INT(s3_status_rc(500), STRATA_EIO);
    ASSERT_EQ_INT(s3_status_rc(206), 0);
}

TEST(s3_backoff_doubles_with_jitter_and_cap)
{
    struct s3_config c;
    s3_config_init(&c);
    c.retry_base_ns = 100 * NS_PER_MS;
    c.retry_max_ns = 1000 * NS_PER_MS;
    /* Retry n waits within [d/2, d] with d = base * 2^(n-1), capped. */
    static const int64_t want_ms[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (int n = 1; n <= 7; n++) {
        int64_t d = want_ms[n - 1] * NS_PER_MS;
        ASSERT_EQ_INT(s3_backoff_ns(&c, n, 0), d / 2);
        ASSERT_EQ_INT(s3_backoff_ns(&c, n, (uint64_t)(d / 2)), d);
        for (uint64_t r = 1; r < 1000000; r = r * 7 + 3) {
            int64_t got = s3_backoff_ns(&c, n, r * 2654435761u);
            ASSERT_TRUE(got >= d / 2 && got <= d);
        }
    }
    s3_config_release(&c);
}

/* ---- cache ---------------------------------------------------------------- */

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/strata-s3cache-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name), s = strlen(suffix);
        if (l >= s && !strcmp(e->d_name + l - s, suffix))
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* The single .blk file of dir, for corrupting it. */
static int first_blk(const char *dir, char *path, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".blk")) {
            snprintf(path, cap, "%s/%s", dir, e->d_name);
            found = 1;
            break;
        }
    if (d)
        closedir(d);
    return found;
}

TEST(s3_cache_hits_misses_and_etags)
{
    char *root = temp_dir();
    ASSERT_TRUE(root != NULL);
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/data/s3-cache", root);
    struct s3_cache *c = NULL;
    char err[256];
    ASSERT_EQ_INT(s3_cache_open(dir, 1 << 20, &c, err, sizeof(err)), 0);
    ASSERT_TRUE(c != NULL);
    struct buf b;
    buf_init(&b, 1 << 20);
    ASSERT_EQ_INT(s3_cache_get(c, "t/1/p", "\"e1\"", s3_suffix(64), &b), 0);
    ASSERT_EQ_INT(s3_cache_put(c, "t/1/p", "\"e1\"", s3_suffix(64), "footer!", 7), 0);
    ASSERT_EQ_INT(s3_cache_get(c, "t/1/p", "\"e1\"", s3_suffix(64), &b), 1);
    ASSERT_EQ_SLICE(buf_slice(&b), "footer!");
    /* Another ETag, range or key is another entry. */
    ASSERT_EQ_INT(s3_cache_get(c, "t/1/p", "\"e2\"", s3_suffix(64), &b), 0);
    ASSERT_EQ_INT(s3_cache_get(c, "t/1/p", "\"e1\"", s3_range(0, 64), &b), 0);
    ASSERT_EQ_INT(s3_cache_get(c, "t/1/q", "\"e1\"", s3_suffix(64), &b), 0);
    ASSERT_EQ_SLICE(buf_slice(&b), "footer!");
    /* A buffer too small for the entry. */
    struct buf small;
    buf_init(&small, 3);
    ASSERT_EQ_INT(s3_cache_get(c, "t/1/p", "\"e1\"", s3_suffix(64), &small), STRATA_ETOOLARGE);
    ASSERT_EQ_INT(small.len, 0);
    buf_release(&small);
    /* Empty ranges are entries too. */
    ASSERT_EQ_INT(s3_cache_put(c, "t/1/e", NULL, s3_range(5, 0), "", 0), 0);
    buf_reset(&b);
    ASSERT_EQ_INT(s3_cache_get(c, "t/1/e", "", s3_range(5, 0), &b), 1);
    ASSERT_EQ_INT(b.len, 0);
    struct s3_cache_stats st;
    s3_cache_stats(c, &st);
    ASSERT_EQ_UINT(st.hits, 2);
    ASSERT_EQ_UINT(st.misses, 5);
    ASSERT_EQ_UINT(st.entries, 2);
    /* Entries above an eighth of the cache are not kept. */
    char *big = calloc(1, (1 << 20) / 8);
    ASSERT_EQ_INT(s3_cache_put(c, "big", NULL, S3_WHOLE, big, (1 << 20) / 8), 0);
    free(big);
    ASSERT_EQ_INT(s3_cache_get(c, "big", NULL, S3_WHOLE, &b), 0);
    s3_cache_close(c);
    /* No cache at all. */
    ASSERT_EQ_INT(s3_cache_open(dir, 0, &c, err, sizeof(err)), 0);
    ASSERT_TRUE(c == NULL);
    ASSERT_EQ_INT(s3_cache_get(NULL, "k", NULL, S3_WHOLE, &b), 0);
    ASSERT_EQ_INT(s3_cache_put(NULL, "k", NULL, S3_WHOLE, "x", 1), 0);
    s3_cache_close(NULL);
    buf_release(&b);
    remove_tree(root);
    free(root);
}

TEST(s3_cache_evicts_least_recently_used)
{
    char *dir = temp_dir();
    ASSERT_TRUE(dir != NULL);
    struct s3_cache *c = NULL;
    char err[256];
    /* Entries of 1000 data bytes take ~1040 bytes: ten fit in 10400 + some. */
    ASSERT_EQ_INT(s3_cache_open(dir, 10800, &c, err, sizeof(err)), 0);
    char data[1000];
    memset(data, 'x', sizeof(data));
    char key[32];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "obj%d", i);
        ASSERT_EQ_INT(s3_cache_put(c, key, NULL, s3_range(0, 1000), data, sizeof(data)), 0);
    }
    struct buf b;
    buf_init(&b, 1 << 20);
    /* Touch obj0, then add two more: obj1 and obj2 go, obj0 stays. */
    ASSERT_EQ_INT(s3_cache_get(c, "obj0", NULL, s3_range(0, 1000), &b), 1);
    ASSERT_EQ_INT(s3_cache_put(c, "obj10", NULL, s3_range(0, 1000), data, sizeof(data)), 0);
    ASSERT_EQ_INT(s3_cache_put(c, "obj11", NULL, s3_range(0, 1000), data, sizeof(data)), 0);
    ASSERT_EQ_INT(s3_cache_get(c, "obj0", NULL, s3_range(0, 1000), &b), 1);
    ASSERT_EQ_INT(s3_cache_get(c, "obj1", NULL, s3_range(0, 1000), &b), 0);
    ASSERT_EQ_INT(s3_cache_get(c, "obj2", NULL, s3_range(0, 1000), &b), 0);
    ASSERT_EQ_INT(s3_cache_get(c, "obj3", NULL, s3_range(0, 1000), &b), 1);
    struct s3_cache_stats st;
    s3_cache_stats(c, &st);
    ASSERT_EQ_UINT(st.evictions, 2);
    ASSERT_TRUE(st.bytes <= 10800);
    ASSERT_EQ_INT(count_files(dir, ".blk"), (int)st.entries);
    s3_cache_close(c);
    buf_release(&b);
    remove_tree(dir);
    free(dir);
}

TEST(s3_cache_survives_restart_and_detects_corruption)
{
    char *dir = temp_dir();
    ASSERT_TRUE(dir != NULL);
    struct s3_cache *c = NULL;
    char err[256];
    ASSERT_EQ_INT(s3_cache_open(dir, 1 << 20, &c, err, sizeof(err)), 0);
    ASSERT_EQ_INT(s3_cache_put(c, "part", "\"e\"", s3_range(100, 10), "0123456789", 10), 0);
    s3_cache_close(c);
    /* A leftover temporary file from a crash is removed at open. */
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s/tmp-1-1", dir);
    FILE *f = fopen(tmp, "w");
    ASSERT_TRUE(f != NULL);
    fputs("partial", f);
    fclose(f);
    ASSERT_EQ_INT(s3_cache_open(dir, 1 << 20, &c, err, sizeof(err)), 0);
    ASSERT_EQ_INT(count_files(dir, "tmp-1-1"), 0);
    struct buf b;
    buf_init(&b, 1 << 20);
    ASSERT_EQ_INT(s3_cache_get(c, "part", "\"e\"", s3_range(100, 10), &b), 1);
    ASSERT_EQ_SLICE(buf_slice(&b), "0123456789");
    s3_cache_close(c);

    /* Flip one data byte: the entry is refused, deleted, and counted. */
    char path[4200];
    ASSERT_TRUE(first_blk(dir, path, sizeof(path)));
    struct stat st;
    ASSERT_EQ_INT(stat(path, &st), 0);
    int fd = open(path, O_RDWR);
    ASSERT_TRUE(fd >= 0);
    char ch;
    off_t at = st.st_size - 4 - 3;
    ASSERT_EQ_INT(pread(fd, &ch, 1, at), 1);
    ch ^= 0x20;
    ASSERT_EQ_INT(pwrite(fd, &ch, 1, at), 1);
    close(fd);
    ASSERT_EQ_INT(s3_cache_open(dir, 1 << 20, &c, err, sizeof(err)), 0);
    buf_reset(&b);
    ASSERT_EQ_INT(s3_cache_get(c, "part", "\"e\"", s3_range(100, 10), &b), 0);
    ASSERT_EQ_INT(b.len, 0);
    struct s3_cache_stats cs;
    s3_cache_stats(c, &cs);
    ASSERT_EQ_UINT(cs.corrupt, 1);
    ASSERT_EQ_UINT(cs.entries, 0);
    ASSERT_EQ_INT(count_files(dir, ".blk"), 0);

    /* A truncated entry (a crash before the data reached the disk) is refused too. */
    ASSERT_EQ_INT(s3_cache_put(c, "part", "\"e\"", s3_range(100, 10), "0123456789", 10), 0);
    ASSERT_TRUE(first_blk(dir, path, sizeof(path)));
    ASSERT_EQ_INT(truncate(path, 25), 0);
    ASSERT_EQ_INT(s3_cache_get(c, "part", "\"e\"", s3_range(100, 10), &b), 0);
    s3_cache_stats(c, &cs);
    ASSERT_EQ_UINT(cs.corrupt, 2);
    s3_cache_close(c);
    buf_release(&b);
    remove_tree(dir);
    free(dir);
}

TEST(s3_cache_restart_keeps_lru_order_and_limit)
{
    char *dir = temp_dir();
    ASSERT_TRUE(dir != NULL);
    struct s3_cache *c = NULL;
    char err[256];
    ASSERT_EQ_INT(s3_cache_open(dir, 1 << 20, &c, err, sizeof(err)), 0);
    char data[1000];
    memset(data, 'y', sizeof(data));
    char key[32];
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof(key), "o%d", i);
        ASSERT_EQ_INT(s3_cache_put(c, key, NULL, S3_WHOLE, data, sizeof(data)), 0);
        usleep(20000); /* distinct modification times */
    }
    struct buf b;
    buf_init(&b, 1 << 20);
    ASSERT_EQ_INT(s3_cache_get(c, "o0", NULL, S3_WHOLE, &b), 1); /* o0 becomes the newest */
    s3_cache_close(c);
    /* Reopen smaller: only the three most recently used survive (o0, o5, o4). */
    ASSERT_EQ_INT(s3_cache_open(dir, 3 * 1050, &c, err, sizeof(err)), 0);
    ASSERT_EQ_INT(s3_cache_get(c, "o0", NULL, S3_WHOLE, &b), 1);
    ASSERT_EQ_INT(s3_cache_get(c, "o5", NULL, S3_WHOLE, &b), 1);
    ASSERT_EQ_INT(s3_cache_get(c, "o4", NULL, S3_WHOLE, &b), 1);
    ASSERT_EQ_INT(s3_cache_get(c, "o1", NULL, S3_WHOLE, &b), 0);
    ASSERT_EQ_INT(s3_cache_get(c, "o3", NULL, S3_WHOLE, &b), 0);
    ASSERT_EQ_INT(count_files(dir, ".blk"), 3);
    s3_cache_close(c);
    buf_release(&b);
    remove_tree(dir);
    free(dir);
}

struct cache_thread {
    struct s3_cache *c;
    int id, bad;
};

static void *cache_worker(void *arg)
{
    struct cache_thread *t = arg;
    struct buf b;
    buf_init(&b, 1 << 16);
    char key[32], data[300];
    for (int i = 0; i < 300; i++) {
        int k = (i * 7 + t->id) % 40;
        snprintf(key, sizeof(key), "k%d", k);
        memset(data, 'a' + k % 26, sizeof(data));
        buf_reset(&b);
        int rc = s3_cache_get(t->c, key, NULL, S3_WHOLE, &b);
        if (rc == 1 && (b.len != sizeof(data) || memcmp(b.ptr, data, sizeof(data))))
            t->bad++;
        else if (rc == 0 && s3_cache_put(t->c, key, NULL, S3_WHOLE, data, sizeof(data)) < 0)
            t->bad++;
        else if (rc < 0)
            t->bad++;
    }
    buf_release(&b);
    return NULL;
}

TEST(s3_cache_is_thread_safe)
{
    char *dir = temp_dir();
    ASSERT_TRUE(dir != NULL);
    struct s3_cache *c = NULL;
    char err[256];
    /* Small enough that eviction runs concurrently with reads. */
    ASSERT_EQ_INT(s3_cache_open(dir, 20 * 340, &c, err, sizeof(err)), 0);
    pthread_t th[4];
    struct cache_thread ct[4];
    for (int i = 0; i < 4; i++) {
        ct[i] = (struct cache_thread){c, i, 0};
        ASSERT_EQ_INT(pthread_create(&th[i], NULL, cache_worker, &ct[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ_INT(ct[i].bad, 0);
    struct s3_cache_stats st;
    s3_cache_stats(c, &st);
    ASSERT_EQ_UINT(st.hits + st.misses, 1200);
    ASSERT_TRUE(st.bytes <= 20 * 340);
    ASSERT_EQ_UINT(st.corrupt, 0);
    s3_cache_close(c);
    remove_tree(dir);
    free(dir);
}
