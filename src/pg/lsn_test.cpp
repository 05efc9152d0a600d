#include "pg/lsn.hpp"

#include <gtest/gtest.h>

namespace surge::pg {
namespace {

TEST(PgLsnTest, ParsesTheServersTextForm) {
  EXPECT_EQ(parse_lsn("16/B374D848"), Lsn{0x16B374D848});
  EXPECT_EQ(parse_lsn("0/0"), Lsn{0});
  EXPECT_EQ(parse_lsn("0/3000148"), Lsn{0x3000148});
  EXPECT_EQ(parse_lsn("16/b374d848"), Lsn{0x16B374D848});
  EXPECT_EQ(parse_lsn("FFFFFFFF/FFFFFFFF"), Lsn{0xFFFFFFFFFFFFFFFF});
}

TEST(PgLsnTest, RejectsAnythingElse) {
  for (const char* bad : {"", "/", "1/", "/1", "16B374D848", "0x1/2", "1/0x2", "1/2/3", " 1/2",
                          "1/2 ", "-1/2", "+1/2", "123456789/0", "0/123456789", "G/0"}) {
    EXPECT_FALSE(parse_lsn(bad).has_value()) << bad;
  }
}

TEST(PgLsnTest, FormatsLikeTheServerAndRoundTrips) {
  EXPECT_EQ(format_lsn(0x16B374D848), "16/B374D848");
  EXPECT_EQ(format_lsn(0), "0/0");
  for (const Lsn v : {Lsn{0}, Lsn{1}, Lsn{0xFFFFFFFF}, Lsn{0x100000000}, Lsn{0xDEADBEEFCAFEF00D}}) {
    EXPECT_EQ(parse_lsn(format_lsn(v)), v);
  }
}

TEST(PgLsnTest, OrderIsWalOrder) {
  EXPECT_LT(*parse_lsn("0/FFFFFFFF"), *parse_lsn("1/0"));
  EXPECT_LT(*parse_lsn("1/A"), *parse_lsn("1/B"));
  EXPECT_GT(kPrimaryLsn, *parse_lsn("FFFFFFFF/FFFFFFFE"));
}

}  // namespace
}  // namespace surge::pg
