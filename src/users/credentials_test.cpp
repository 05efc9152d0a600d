#include "users/credentials.hpp"

#include <string>

#include <gtest/gtest.h>

namespace surge::users {
namespace {

TEST(UsersCredentials, NameRules) {
  EXPECT_TRUE(valid_name("abc"));
  EXPECT_TRUE(valid_name("user_42"));
  EXPECT_TRUE(valid_name("ABC_def_0123456789"));
  EXPECT_TRUE(valid_name(std::string(32, 'a')));
  EXPECT_FALSE(valid_name(""));
  EXPECT_FALSE(valid_name("ab"));
  EXPECT_FALSE(valid_name(std::string(33, 'a')));
  for (const char* bad :
       {"user-1", "user.1", "user 1", "us\xc3\xa9r", "user\n", "a/b", "x@y.z", "{tag}", "a\tb"}) {
    EXPECT_FALSE(valid_name(bad)) << bad;
  }
  EXPECT_FALSE(valid_name(std::string("ab\0c", 4)));
  EXPECT_EQ(name_problem("ab"), "must be at least 3 characters");
  EXPECT_EQ(name_problem(std::string(33, 'a')), "must be at most 32 characters");
  EXPECT_EQ(name_problem("a-b-c"), "may contain only A-Z, a-z, 0-9 and _");
  EXPECT_FALSE(name_problem("alice"));
}

TEST(UsersCredentials, PasswordLengthCountsCodePoints) {
  EXPECT_EQ(utf8_code_points(""), 0U);
  EXPECT_EQ(utf8_code_points("abc"), 3U);
  EXPECT_EQ(utf8_code_points("p\xc3\xa4ssw\xc3\xb6rt"), 8U);  // pässwört: 10 bytes
  EXPECT_EQ(utf8_code_points("\xe2\x82\xac"), 1U);            // €
  EXPECT_EQ(utf8_code_points("\xf0\x9f\x98\x80"), 1U);        // 😀

  EXPECT_TRUE(valid_password("12345678"));
  EXPECT_FALSE(valid_password("1234567"));
  // 7 code points in 14 bytes: too short although 14 bytes.
  EXPECT_FALSE(valid_password("\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4"));
  // 8 code points in 10 bytes.
  EXPECT_TRUE(valid_password("p\xc3\xa4ssw\xc3\xb6rt"));
  EXPECT_TRUE(valid_password(std::string(128, 'x')));
  EXPECT_FALSE(valid_password(std::string(129, 'x')));
  // 128 four-byte code points (512 bytes) pass; 129 do not.
  std::string emoji;
  for (int i = 0; i < 128; ++i) {
    emoji += "\xf0\x9f\x98\x80";
  }
  EXPECT_TRUE(valid_password(emoji));
  EXPECT_FALSE(valid_password(emoji + "x"));
  EXPECT_FALSE(valid_password(std::string(1 << 20, 'x')));
  // Spaces and NUL are characters like any other.
  EXPECT_TRUE(valid_password("        "));
  EXPECT_TRUE(valid_password(std::string("abc\0defg", 8)));
  EXPECT_EQ(password_problem("short"), "must be at least 8 characters");
  EXPECT_EQ(password_problem(std::string(129, 'x')), "must be at most 128 characters");
}

}  // namespace
}  // namespace surge::users
