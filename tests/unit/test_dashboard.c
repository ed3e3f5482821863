/*
 * Unit tests of src/server/dashboard.c: ETag matching and asset lookup.
 * The unit tests link the library without the generated assets, so the weak
 * default (no assets) is what dashboard_find sees here; the browser tests
 * cover the embedded files.
 */
#include "server/dashboard.h"
#include "test.h"

TEST(dashboard_etag_matches_rfc9110_forms)
{
    const char *tag = "\"abc123\"";
    ASSERT_TRUE(dashboard_etag_matches("\"abc123\"", tag));
    ASSERT_TRUE(dashboard_etag_matches("W/\"abc123\"", tag));
    ASSERT_TRUE(dashboard_etag_matches("*", tag));
    ASSERT_TRUE(dashboard_etag_matches(" \"x\" , W/\"abc123\" ", tag));
    ASSERT_TRUE(dashboard_etag_matches("\"x\",\"abc123\"", tag));
    ASSERT_FALSE(dashboard_etag_matches("\"abc1234\"", tag));
    ASSERT_FALSE(dashboard_etag_matches("\"abc12\"", tag));
    ASSERT_FALSE(dashboard_etag_matches("abc123", tag));
    ASSERT_FALSE(dashboard_etag_matches("", tag));
    ASSERT_FALSE(dashboard_etag_matches(" , ,", tag));
    ASSERT_FALSE(dashboard_etag_matches("W/", tag));
    ASSERT_FALSE(dashboard_etag_matches("**", tag));
    ASSERT_FALSE(dashboard_etag_matches(NULL, tag));
}

TEST(dashboard_without_assets_finds_nothing)
{
    size_t n = 99;
    ASSERT_TRUE(dashboard_assets(&n) == NULL);
    ASSERT_EQ_UINT(n, 0);
    ASSERT_TRUE(dashboard_find("/") == NULL);
    ASSERT_TRUE(dashboard_find("/assets/app.js") == NULL);
    ASSERT_TRUE(dashboard_find("/../etc/passwd") == NULL);
}
