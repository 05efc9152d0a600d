#include "users/token.hpp"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace surge::users {
namespace {

// Golden values computed independently with Python's hmac module:
//   sig = base64.urlsafe_b64encode(hmac.new(secret.encode(), f"{uid}.{exp}".encode(),
//                                  hashlib.sha256).digest()).rstrip(b"=")
constexpr std::string_view kSecret = "surge-test-secret";
constexpr std::string_view kGolden42 = "42.1764057600.sB77XQhQTKrYzN0RR9aibJtT11CC8CjFXG8Kx70SorI";
constexpr std::string_view kGolden1 = "1.4102444800.-uAbM6RWqfKRd13NUifV9X9_BO5V9_BTVk2svoF8HnE";
// secret "sécret-ü" (UTF-8 bytes), the largest id.
constexpr std::string_view kGoldenUtf8 =
    "9223372036854775807.1764057600.ql2B8ivRGj-BdfGZqHXy_oMmwFSDcAD0ox-0Ty44CsU";

constexpr std::int64_t kExpiry = 1764057600;  // 2025-11-25T08:00:00Z

std::string as_string(std::string_view s) {
  return std::string(s);
}

// ---------------------------------------------------------------------------
// base64url
// ---------------------------------------------------------------------------

std::string enc(std::string_view bytes) {
  return base64url_encode(std::span<const unsigned char>(
      reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()));
}

TEST(UsersBase64Url, Rfc4648Vectors) {
  EXPECT_EQ(enc(""), "");
  EXPECT_EQ(enc("f"), "Zg");
  EXPECT_EQ(enc("fo"), "Zm8");
  EXPECT_EQ(enc("foo"), "Zm9v");
  EXPECT_EQ(enc("foob"), "Zm9vYg");
  EXPECT_EQ(enc("fooba"), "Zm9vYmE");
  EXPECT_EQ(enc("foobar"), "Zm9vYmFy");
}

TEST(UsersBase64Url, UsesTheUrlAlphabet) {
  EXPECT_EQ(enc("\xfb\xff\xbf"), "-_-_");  // '+' and '/' in standard base64
  EXPECT_EQ(enc("\xff\xfe"), "__4");
}

TEST(UsersBase64Url, DecodeRoundTrips) {
  for (const std::string_view s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(base64url_decode(enc(s)), as_string(s)) << s;
  }
  std::string all;
  for (int i = 0; i < 256; ++i) {
    all.push_back(static_cast<char>(i));
  }
  EXPECT_EQ(base64url_decode(enc(all)), all);
}

TEST(UsersBase64Url, DecodeRejectsNonCanonicalAndForeignInput) {
  EXPECT_FALSE(base64url_decode("Zg=="));  // padding
  EXPECT_FALSE(base64url_decode("Zh"));    // unused bits set (canonical is "Zg")
  EXPECT_FALSE(base64url_decode("Zm9"));   // "Zm8" canonical
  EXPECT_FALSE(base64url_decode("Z"));     // length % 4 == 1
  EXPECT_FALSE(base64url_decode("+/+/"));  // standard alphabet
  EXPECT_FALSE(base64url_decode("Zm 9v"));
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4)));
}

// ---------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------

TEST(UsersTokenSigner, MatchesTheGoldenTokens) {
  const TokenSigner signer(kSecret);
  EXPECT_EQ(signer.sign(42, kExpiry), kGolden42);
  EXPECT_EQ(signer.sign(1, 4102444800), kGolden1);
  // Repeated use of the thread's cached context gives the same answer.
  EXPECT_EQ(signer.sign(42, kExpiry), kGolden42);
  const TokenSigner utf8(
      "s\xc3\xa9"
      "cret-\xc3\xbc");
  EXPECT_EQ(utf8.sign(9223372036854775807ULL, kExpiry), kGoldenUtf8);
}

TEST(UsersTokenSigner, TwoSignersOnOneThreadDoNotShareKeys) {
  const TokenSigner a(kSecret);
  const TokenSigner b("another secret");
  const std::string ta = a.sign(42, kExpiry);
  const std::string tb = b.sign(42, kExpiry);
  EXPECT_NE(ta, tb);
  EXPECT_EQ(a.sign(42, kExpiry), ta);
  EXPECT_TRUE(a.verify_signature(ta));
  EXPECT_FALSE(a.verify_signature(tb));
  EXPECT_TRUE(b.verify_signature(tb));
  EXPECT_FALSE(b.verify_signature(ta));
}

TEST(UsersTokenSigner, SignRejectsOutOfRangeClaims) {
  const TokenSigner signer(kSecret);
  EXPECT_THROW((void)signer.sign(0, kExpiry), std::invalid_argument);
  EXPECT_THROW((void)signer.sign(9223372036854775808ULL, kExpiry), std::invalid_argument);
  EXPECT_THROW((void)signer.sign(1, -1), std::invalid_argument);
}

TEST(UsersTokenSigner, WithoutSecretSignsNothing) {
  const TokenSigner signer("");
  EXPECT_FALSE(signer.configured());
  EXPECT_THROW((void)signer.sign(1, kExpiry), std::logic_error);
  EXPECT_FALSE(signer.verify_signature(kGolden42));
}

TEST(UsersTokenSigner, VerifiesOnManyThreadsAtOnce) {
  const TokenSigner signer(kSecret);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&signer, &failures, t] {
      for (int i = 1; i <= 2000; ++i) {
        const auto id = static_cast<std::uint64_t>(t * 10000 + i);
        const auto claims = signer.verify_signature(signer.sign(id, kExpiry));
        if (!claims || claims->user_id != id) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(failures.load(), 0);
}

// ---------------------------------------------------------------------------
// Parsing and verification
// ---------------------------------------------------------------------------

TEST(UsersParseToken, SplitsAWellFormedToken) {
  const auto p = parse_token(kGolden42);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->claims, (TokenClaims{42, kExpiry}));
  EXPECT_EQ(p->payload, "42.1764057600");
  EXPECT_EQ(p->signature, "sB77XQhQTKrYzN0RR9aibJtT11CC8CjFXG8Kx70SorI");
}

class UsersAuthenticator : public ::testing::Test {
 protected:
  std::int64_t now = kExpiry - 100;
  TokenAuthenticator auth{kSecret, "admin-token-123", [this] { return now; }};
};

TEST_F(UsersAuthenticator, AcceptsAValidToken) {
  EXPECT_EQ(auth.verify_user_token(kGolden42), 42U);
}

TEST_F(UsersAuthenticator, RejectsAnExpiredToken) {
  now = kExpiry - 1;
  EXPECT_EQ(auth.verify_user_token(kGolden42), 42U);
  now = kExpiry;  // expires_at is the first second it is no longer valid
  EXPECT_FALSE(auth.verify_user_token(kGolden42));
  now = kExpiry + 86400;
  EXPECT_FALSE(auth.verify_user_token(kGolden42));
}

TEST_F(UsersAuthenticator, RejectsABadSignature) {
  std::string t(kGolden42);
  t.back() = 'M';  // index 12 = 0b0011'00: one signature bit flipped
  EXPECT_FALSE(auth.verify_user_token(t));
  t = std::string(kGolden42);
  t[t.size() - 20] = t[t.size() - 20] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(auth.verify_user_token(t));
  // The right signature for another payload.
  EXPECT_FALSE(auth.verify_user_token("43.1764057600.sB77XQhQTKrYzN0RR9aibJtT11CC8CjFXG8Kx70SorI"));
  EXPECT_FALSE(auth.verify_user_token("42.1764057601.sB77XQhQTKrYzN0RR9aibJtT11CC8CjFXG8Kx70SorI"));
  // Signed with another secret.
  const TokenSigner other("not the secret");
  EXPECT_FALSE(auth.verify_user_token(other.sign(42, kExpiry)));
}

TEST_F(UsersAuthenticator, RejectsANonCanonicalSignatureSpelling) {
  // The 43rd character carries the signature's last 4 bits and 2 unused
  // bits. The golden one ends in 'I' (index 8 = 0b0010'00); 'J' (0b0010'01)
  // spells the same 32 bytes with an unused bit set. Comparing the text
  // rejects it, so each (user, expiry) has exactly one valid token.
  std::string variant(kGolden42);
  ASSERT_EQ(variant.back(), 'I');
  variant.back() = 'J';
  EXPECT_FALSE(auth.verify_user_token(variant));
}

TEST_F(UsersAuthenticator, RejectsMalformedTokens) {
  const std::string sig = "sB77XQhQTKrYzN0RR9aibJtT11CC8CjFXG8Kx70SorI";
  const std::vector<std::string> bad = {
      "",
      ".",
      "..",
      "42",
      "42.1764057600",
      "42.1764057600.",
      "42..1764057600." + sig,
      "42.1764057600." + sig + ".",
      "42.1764057600.." + sig,
      ".42.1764057600." + sig,
      "42.1764057600." + sig + "=",  // padding
      "42.1764057600." + sig.substr(1),
      "042.1764057600." + sig,  // leading zero
      "42.01764057600." + sig,
      "+42.1764057600." + sig,  // sign
      "-42.1764057600." + sig,
      "0.1764057600." + sig,  // id 0
      "4a.1764057600." + sig,
      "42.17640576e0." + sig,
      " 42.1764057600." + sig,
      "42.1764057600 ." + sig,
      "9223372036854775808.1764057600." + sig,   // id above INT64_MAX
      "18446744073709551617.1764057600." + sig,  // above UINT64_MAX
      "42.9223372036854775808." + sig,           // expiry above INT64_MAX
      "42.99999999999999999999999999." + sig,
      "42.1764057600." + sig.substr(0, 42) + "+",  // standard alphabet
      "42.1764057600." + sig.substr(0, 42) + "/",
      "42.1764057600." + std::string(43, 'A'),
      std::string(200, '1') + ".1." + sig,  // huge
      std::string("42.1764057600.") + std::string("\0", 1) + sig.substr(1),
  };
  for (const auto& t : bad) {
    EXPECT_FALSE(auth.verify_user_token(t)) << '"' << t << '"';
    // Whatever the shape, parsing never throws.
    EXPECT_NO_THROW((void)parse_token(t));
  }
}

TEST_F(UsersAuthenticator, AcceptsTheLargestIdAndExpiry) {
  const TokenSigner& s = auth.signer();
  EXPECT_EQ(auth.verify_user_token(s.sign(9223372036854775807ULL, kExpiry)),
            9223372036854775807ULL);
  EXPECT_EQ(auth.verify_user_token(s.sign(7, 9223372036854775807LL)), 7U);
}

TEST_F(UsersAuthenticator, AdminTokenComparison) {
  EXPECT_TRUE(auth.is_admin_token("admin-token-123"));
  EXPECT_FALSE(auth.is_admin_token("admin-token-12"));
  EXPECT_FALSE(auth.is_admin_token("admin-token-1234"));
  EXPECT_FALSE(auth.is_admin_token("Admin-token-123"));
  EXPECT_FALSE(auth.is_admin_token(""));
  EXPECT_FALSE(auth.is_admin_token(kGolden42));
  // A user token is not an admin token and vice versa.
  EXPECT_FALSE(auth.verify_user_token("admin-token-123"));
}

TEST(UsersAuthenticatorEmpty, NothingMatchesWithoutConfiguration) {
  const TokenAuthenticator auth("", "", [] { return std::int64_t{0}; });
  EXPECT_FALSE(auth.is_admin_token(""));
  EXPECT_FALSE(auth.is_admin_token("x"));
  EXPECT_FALSE(auth.verify_user_token(kGolden42));
}

}  // namespace
}  // namespace surge::users
