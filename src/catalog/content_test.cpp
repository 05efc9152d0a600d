#include "catalog/content.hpp"

#include <gtest/gtest.h>

namespace surge::catalog {
namespace {

TEST(CatalogContent, VersionIsXxh3Of16HexDigits) {
  // XXH3-64 of the empty input (the reference value of the xxHash spec).
  EXPECT_EQ(content_version(""), "2d06800538d394c2");
  const std::string v = content_version(R"({"products" : []})");
  EXPECT_EQ(v.size(), 16U);
  EXPECT_EQ(v.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(content_version(R"({"products" : []})"), v);
  EXPECT_NE(content_version(R"({"products" : [1]})"), v);
}

TEST(CatalogContent, FileNames) {
  EXPECT_EQ(catalog_file_name("0123456789abcdef"), "catalog.0123456789abcdef.json");
  EXPECT_EQ(campaigns_file_name("0123456789abcdef"), "campaigns.0123456789abcdef.json");
  EXPECT_TRUE(is_versioned_file_name("catalog.0123456789abcdef.json"));
  EXPECT_TRUE(is_versioned_file_name("campaigns.0123456789abcdef.json"));
  for (const char* other :
       {"manifest.json", "catalog.0123456789ABCDEF.json", "catalog.0123456789abcde.json",
        "catalog.0123456789abcdef0.json", ".catalog.0123456789abcdef.json.tmp.1.0",
        "users.0123456789abcdef.json", "catalog.0123456789abcdef.json~", "catalog..json"}) {
    EXPECT_FALSE(is_versioned_file_name(other)) << other;
  }
}

TEST(CatalogContent, ManifestRoundTrip) {
  const Manifest m{"00000000000000aa", "00000000000000bb"};
  const std::string text = render_manifest(m);
  EXPECT_EQ(text,
            R"({"version":"00000000000000aa","catalog":"catalog.00000000000000aa.json",)"
            R"("campaigns":"campaigns.00000000000000bb.json","catalog_version":"00000000000000aa",)"
            R"("campaigns_version":"00000000000000bb"})");
  EXPECT_EQ(parse_manifest(text), m);
}

TEST(CatalogContent, ManifestRejectsInconsistentDocuments) {
  EXPECT_FALSE(parse_manifest(""));
  EXPECT_FALSE(parse_manifest("[]"));
  EXPECT_FALSE(parse_manifest(R"({"version":"00000000000000aa"})"));
  // version must be the catalog's, names must match the versions.
  EXPECT_FALSE(parse_manifest(
      R"({"version":"00000000000000bb","catalog":"catalog.00000000000000aa.json",)"
      R"("campaigns":"campaigns.00000000000000bb.json","catalog_version":"00000000000000aa",)"
      R"("campaigns_version":"00000000000000bb"})"));
  EXPECT_FALSE(parse_manifest(
      R"({"version":"00000000000000aa","catalog":"catalog.00000000000000ab.json",)"
      R"("campaigns":"campaigns.00000000000000bb.json","catalog_version":"00000000000000aa",)"
      R"("campaigns_version":"00000000000000bb"})"));
}

TEST(CatalogContent, VersionBody) {
  EXPECT_EQ(render_version("0123456789abcdef"), R"({"version":"0123456789abcdef"})");
}

}  // namespace
}  // namespace surge::catalog
