#include "pg/result.hpp"

#include <cmath>
#include <memory>

#include <gtest/gtest.h>
#include <libpq-fe.h>

namespace surge::pg {
namespace {

// Builds a PGresult without a server (libpq's result-construction API).
struct Built {
  std::unique_ptr<PGresult, decltype(&PQclear)> res{nullptr, &PQclear};
};

Built make(const std::vector<std::string>& names,
           const std::vector<std::vector<std::optional<std::string>>>& rows) {
  Built b;
  b.res.reset(PQmakeEmptyPGresult(nullptr, PGRES_TUPLES_OK));
  std::vector<PGresAttDesc> attrs(names.size());
  for (std::size_t c = 0; c < names.size(); ++c) {
    attrs[c] = PGresAttDesc{const_cast<char*>(names[c].c_str()), 0, 0, 0, 25, -1, -1};
  }
  EXPECT_EQ(PQsetResultAttrs(b.res.get(), static_cast<int>(attrs.size()), attrs.data()), 1);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      const auto& v = rows[r][c];
      char* text = v ? const_cast<char*>(v->c_str()) : nullptr;
      EXPECT_EQ(PQsetvalue(b.res.get(), static_cast<int>(r), static_cast<int>(c), text,
                           v ? static_cast<int>(v->size()) : -1),
                1);
    }
  }
  return b;
}

TEST(PgResultTest, CopiesValuesAndOutlivesThePgResult) {
  Result r;
  {
    Built b = make({"id", "name", "active", "score", "note"},
                   {{"1", "alice", "t", "2.5", std::nullopt}, {"-9", "bob", "f", "NaN", "x"}});
    r = Result::copy_from(b.res.get());
  }  // PQclear
  ASSERT_EQ(r.rows(), 2U);
  ASSERT_EQ(r.cols(), 5U);
  EXPECT_EQ(r.get<std::int64_t>(0, 0), 1);
  EXPECT_EQ(r.get<std::int32_t>(1, 0), -9);
  EXPECT_EQ(r.get<std::string_view>(0, 1), "alice");
  EXPECT_EQ(r.get<std::string>(1, "name"), "bob");
  EXPECT_TRUE(r.get<bool>(0, "active"));
  EXPECT_FALSE(r.get<bool>(1, 2));
  EXPECT_DOUBLE_EQ(r.get<double>(0, "score"), 2.5);
  EXPECT_TRUE(std::isnan(r.get<double>(1, "score")));
  EXPECT_TRUE(r.is_null(0, 4));
  EXPECT_TRUE(r.is_null(0, "note"));
  EXPECT_FALSE(r.is_null(1, 4));
  EXPECT_EQ(r.get<std::optional<std::string>>(0, 4), std::nullopt);
  EXPECT_EQ(r.get<std::optional<std::string>>(1, 4), "x");
  EXPECT_EQ(r.get<std::optional<std::int64_t>>(0, 0), 1);
  EXPECT_EQ(r.column("score"), 3U);
  EXPECT_EQ(r.column_name(1), "name");
}

TEST(PgResultTest, MisuseThrowsProgrammingErrors) {
  Built b = make({"n", "t"}, {{"12x", std::nullopt}});
  const Result r = Result::copy_from(b.res.get());
  EXPECT_THROW(r.get<std::int64_t>(0, 0), std::invalid_argument);  // not a number
  EXPECT_THROW(r.get<std::string>(0, 1), std::invalid_argument);   // NULL as non-optional
  EXPECT_THROW(r.get<bool>(0, 0), std::invalid_argument);
  EXPECT_THROW(r.get<std::int64_t>(1, 0), std::out_of_range);
  EXPECT_THROW(r.get<std::int64_t>(0, 2), std::out_of_range);
  EXPECT_THROW(r.column("missing"), std::out_of_range);
}

TEST(PgResultTest, NarrowIntegersAreRangeChecked) {
  Built b = make({"big"}, {{"4294967296"}});
  const Result r = Result::copy_from(b.res.get());
  EXPECT_EQ(r.get<std::int64_t>(0, 0), 4294967296LL);
  EXPECT_THROW(r.get<std::int32_t>(0, 0), std::invalid_argument);
  EXPECT_THROW(r.get<std::uint32_t>(0, 0), std::invalid_argument);
}

TEST(PgResultTest, EmptyResult) {
  const Result r;
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.rows(), 0U);
  EXPECT_EQ(r.cols(), 0U);
  EXPECT_EQ(r.affected(), 0U);
}

TEST(PgResultTest, ParsersAreStrict) {
  EXPECT_EQ(parse_int64("-9223372036854775808"), INT64_MIN);
  EXPECT_THROW(parse_int64("9223372036854775808"), std::invalid_argument);
  EXPECT_THROW(parse_int64(""), std::invalid_argument);
  EXPECT_THROW(parse_int64(" 1"), std::invalid_argument);
  EXPECT_EQ(parse_uint64("18446744073709551615"), UINT64_MAX);
  EXPECT_THROW(parse_uint64("-1"), std::invalid_argument);
  EXPECT_TRUE(std::isinf(parse_double("Infinity")));
  EXPECT_LT(parse_double("-Infinity"), 0);
  EXPECT_DOUBLE_EQ(parse_double("1e3"), 1000.0);
  EXPECT_THROW(parse_bool("true"), std::invalid_argument);  // the server sends t / f
}

}  // namespace
}  // namespace surge::pg
