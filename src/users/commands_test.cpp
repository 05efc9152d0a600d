#include "users/commands.hpp"

#include <cstdio>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace surge::users {
namespace {

TEST(UsersTokenCommand, Parses) {
  EXPECT_EQ(parse_user_range("1-10"), (UserRange{1, 10}));
  EXPECT_EQ(parse_user_range("7"), (UserRange{7, 7}));
  EXPECT_EQ(parse_user_range("5-5"), (UserRange{5, 5}));
  EXPECT_EQ(parse_user_range("1-9223372036854775807"), (UserRange{1, 9223372036854775807ULL}));
  for (const char* bad :
       {"", "-", "0-5", "5-0", "10-1", "1-", "-5", "a-b", "1-2-3", "01-5", "1--5", " 1-5", "1-5 ",
        "+1-5", "1-9223372036854775808", "1-99999999999999999999"}) {
    EXPECT_FALSE(parse_user_range(bad)) << '"' << bad << '"';
  }
}

std::string capture_tokens(const TokenSigner& signer, UserRange range, std::int64_t expires) {
  char* data = nullptr;
  std::size_t size = 0;
  std::FILE* f = open_memstream(&data, &size);
  print_tokens(signer, range, expires, f);
  std::fclose(f);
  std::string out(data, size);
  std::free(data);  // NOLINT(cppcoreguidelines-no-malloc): open_memstream's buffer
  return out;
}

TEST(UsersPrintTokens, OneVerifiableLinePerUser) {
  const TokenSigner signer("surge-test-secret");
  const std::string out = capture_tokens(signer, {41, 43}, 1764057600);
  std::istringstream lines(out);
  std::string line;
  std::uint64_t expected = 41;
  while (std::getline(lines, line)) {
    const auto space = line.find(' ');
    ASSERT_NE(space, std::string::npos) << line;
    EXPECT_EQ(line.substr(0, space), std::to_string(expected));
    const auto claims = signer.verify_signature(line.substr(space + 1));
    ASSERT_TRUE(claims) << line;
    EXPECT_EQ(claims->user_id, expected);
    EXPECT_EQ(claims->expires_unix, 1764057600);
    ++expected;
  }
  EXPECT_EQ(expected, 44U);
  // The golden token of token_test.cpp.
  EXPECT_NE(out.find("42 42.1764057600.sB77XQhQTKrYzN0RR9aibJtT11CC8CjFXG8Kx70SorI\n"),
            std::string::npos);
}

TEST(UsersPrintTokens, ManyUsersFlushInChunks) {
  const TokenSigner signer("k");
  const std::string out = capture_tokens(signer, {1, 5000}, 2000000000);
  std::size_t lines = 0;
  for (const char c : out) {
    lines += c == '\n' ? 1 : 0;
  }
  EXPECT_EQ(lines, 5000U);
}

TEST(UsersPrintTokens, RefusesWithoutSecret) {
  const TokenSigner signer("");
  std::FILE* f = std::tmpfile();
  EXPECT_THROW(print_tokens(signer, {1, 1}, 1, f), std::logic_error);
  std::fclose(f);
}

}  // namespace
}  // namespace surge::users
