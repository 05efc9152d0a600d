#include "users/accounts.hpp"

#include <gtest/gtest.h>

namespace surge::users {
namespace {

TEST(UsersRfc3339, FormatsUtcSeconds) {
  EXPECT_EQ(rfc3339_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(rfc3339_utc(1764057600), "2025-11-25T08:00:00Z");
  EXPECT_EQ(rfc3339_utc(1795564800 + 86399), "2026-11-25T23:59:59Z");
  EXPECT_EQ(rfc3339_utc(4102444800), "2100-01-01T00:00:00Z");
}

}  // namespace
}  // namespace surge::users
