#include "pg/error.hpp"

#include <gtest/gtest.h>

namespace surge::pg {
namespace {

using C = Error::Class;

TEST(PgErrorTest, ExactCodesWinOverTheirClass) {
  EXPECT_EQ(classify("23505"), C::kUniqueViolation);
  EXPECT_EQ(classify("23503"), C::kForeignKeyViolation);
  EXPECT_EQ(classify("23514"), C::kCheckViolation);
  EXPECT_EQ(classify("40001"), C::kSerialization);
  EXPECT_EQ(classify("40P01"), C::kSerialization);
  EXPECT_EQ(classify("57014"), C::kQueryCanceled);
  EXPECT_EQ(classify("25006"), C::kReadOnly);
  EXPECT_EQ(classify("42P01"), C::kUndefinedTable);
}

TEST(PgErrorTest, ClassesByTheirFirstTwoCharacters) {
  EXPECT_EQ(classify("23502"), C::kIntegrity);  // not_null_violation
  EXPECT_EQ(classify("23P01"), C::kIntegrity);  // exclusion_violation
  EXPECT_EQ(classify("08006"), C::kConnection);
  EXPECT_EQ(classify("08001"), C::kConnection);
  EXPECT_EQ(classify("57P01"), C::kConnection);  // admin_shutdown
  EXPECT_EQ(classify("57P03"), C::kConnection);  // cannot_connect_now
  EXPECT_EQ(classify("40002"), C::kOther);  // integrity constraint violation in a txn: not 40001
  EXPECT_EQ(classify("42601"), C::kOther);  // syntax error
  EXPECT_EQ(classify("42P02"), C::kOther);  // undefined parameter, not table
  EXPECT_EQ(classify("25001"), C::kOther);
}

TEST(PgErrorTest, MalformedCodesAreOther) {
  EXPECT_EQ(classify(""), C::kOther);
  EXPECT_EQ(classify("2350"), C::kOther);
  EXPECT_EQ(classify("235050"), C::kOther);
}

TEST(PgErrorTest, NoSqlstateIsAConnectionErrorOnlyWhenTheConnectionBroke) {
  const Error lost("", "server closed the connection unexpectedly", true);
  EXPECT_EQ(lost.error_class(), C::kConnection);
  EXPECT_EQ(lost.sqlstate(), "");
  const Error client("", "client-side problem", false);
  EXPECT_EQ(client.error_class(), C::kOther);
}

TEST(PgErrorTest, CarriesSqlstateConstraintAndMessage) {
  const Error e("23505", "duplicate key value violates unique constraint", false, "users_name_key");
  EXPECT_EQ(e.error_class(), C::kUniqueViolation);
  EXPECT_EQ(e.sqlstate(), "23505");
  EXPECT_EQ(e.constraint(), "users_name_key");
  EXPECT_STREQ(e.what(), "duplicate key value violates unique constraint");
  EXPECT_FALSE(e.retryable());
  EXPECT_TRUE(Error("40001", "x").retryable());
  EXPECT_TRUE(Error("40P01", "x").retryable());
}

TEST(PgErrorTest, OwnErrorsTakeAnExplicitClass) {
  const Error e(C::kQueryCanceled, "57014", "query timed out");
  EXPECT_EQ(e.error_class(), C::kQueryCanceled);
  EXPECT_EQ(e.sqlstate(), "57014");
}

TEST(PgErrorTest, ClassNamesAreStableSnakeCase) {
  EXPECT_EQ(class_name(C::kUniqueViolation), "unique_violation");
  EXPECT_EQ(class_name(C::kForeignKeyViolation), "foreign_key_violation");
  EXPECT_EQ(class_name(C::kCheckViolation), "check_violation");
  EXPECT_EQ(class_name(C::kIntegrity), "integrity");
  EXPECT_EQ(class_name(C::kSerialization), "serialization");
  EXPECT_EQ(class_name(C::kConnection), "connection");
  EXPECT_EQ(class_name(C::kQueryCanceled), "query_canceled");
  EXPECT_EQ(class_name(C::kReadOnly), "read_only");
  EXPECT_EQ(class_name(C::kUndefinedTable), "undefined_table");
  EXPECT_EQ(class_name(C::kOther), "other");
  EXPECT_EQ(static_cast<std::size_t>(C::kOther) + 1, Error::kClassCount);
}

}  // namespace
}  // namespace surge::pg
