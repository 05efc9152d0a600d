#include "pg/params.hpp"

#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

namespace surge::pg {
namespace {

TEST(PgParamsTest, ConvertsEachKindToText) {
  const std::string s = "str";
  const std::string_view sv = "view";
  const Params p = params(1, "x", std::nullopt, true, false, std::int64_t{-42}, 2.5, s, sv,
                          std::uint64_t{18446744073709551615ULL});
  ASSERT_EQ(p.size(), 10U);
  EXPECT_EQ(p[0], "1");
  EXPECT_EQ(p[1], "x");
  EXPECT_EQ(p[2], std::nullopt);
  EXPECT_EQ(p[3], "t");
  EXPECT_EQ(p[4], "f");
  EXPECT_EQ(p[5], "-42");
  EXPECT_EQ(p[6], "2.5");
  EXPECT_EQ(p[7], "str");
  EXPECT_EQ(p[8], "view");
  EXPECT_EQ(p[9], "18446744073709551615");
}

TEST(PgParamsTest, OptionalsAndNullPointersAreNull) {
  const std::optional<std::int64_t> none;
  const std::optional<std::int64_t> some = 7;
  const std::optional<std::string> text = "t";
  const char* null_text = nullptr;
  const Params p = params(none, some, text, null_text, Param{}, Param{"raw"});
  ASSERT_EQ(p.size(), 6U);
  EXPECT_EQ(p[0], std::nullopt);
  EXPECT_EQ(p[1], "7");
  EXPECT_EQ(p[2], "t");
  EXPECT_EQ(p[3], std::nullopt);
  EXPECT_EQ(p[4], std::nullopt);
  EXPECT_EQ(p[5], "raw");
}

TEST(PgParamsTest, IntegerLimitsAndFloatsRoundTrip) {
  const Params p =
      params(std::numeric_limits<std::int64_t>::min(), std::int16_t{-7}, std::uint8_t{200}, 0.1,
             std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
             std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(p[0], "-9223372036854775808");
  EXPECT_EQ(p[1], "-7");
  EXPECT_EQ(p[2], "200");  // a number, not a character
  EXPECT_EQ(p[3], "0.1");
  EXPECT_EQ(p[4], "Infinity");
  EXPECT_EQ(p[5], "-Infinity");
  EXPECT_EQ(p[6], "NaN");
}

TEST(PgParamsTest, EmptyParamsAndStatements) {
  EXPECT_TRUE(params().empty());
  const Statement st{"SELECT $1", params(1)};
  EXPECT_EQ(st.params.size(), 1U);
}

TEST(PgParamsTest, ArraysOfIntegersAndQuotedText) {
  EXPECT_EQ(array(std::vector<std::int64_t>{1, -2, 3}), "{1,-2,3}");
  EXPECT_EQ(array(std::vector<std::int64_t>{}), "{}");
  EXPECT_EQ(array(std::vector<std::string>{"a", "NULL", "q\"uote", "back\\slash", "c,d", ""}),
            R"({"a","NULL","q\"uote","back\\slash","c,d",""})");
  const Params p = params(array(std::vector<int>{4, 5}));
  EXPECT_EQ(p[0], "{4,5}");
}

}  // namespace
}  // namespace surge::pg
