#pragma once

// User tokens (API.md §1) and the authentication hook of the HTTP layer.
//
//   <user_id>.<expires_unix>.<sig>
//   sig = base64url_nopad(HMAC-SHA256(secret, "<user_id>.<expires_unix>"))
//
// The secret is the UTF-8 bytes of the configured string, so any load tool
// can mint tokens (scripts, wrk Lua, Python's hmac).
//
// Accepted form (anything else is malformed → 401, never an exception):
//   user_id       canonical decimal: 1..9223372036854775807 (ids are positive
//                 64-bit integers, PostgreSQL bigint), no sign, no leading zero
//   expires_unix  canonical decimal: 0..9223372036854775807, no sign, no
//                 leading zero ("0" itself is canonical — and long expired)
//   sig           exactly 43 characters of [A-Za-z0-9_-] (32 bytes, no
//                 padding) and the canonical encoding: the signature is
//                 compared as text, so a variant spelling of the same bytes
//                 (other unused low bits in the last character) is rejected
//   exactly two dots, at most kMaxTokenSize bytes in all
// Canonical numbers make the token of (user, expiry) unique: "042.…" could
// never verify anyway (the signature covers the text), and rejecting it
// early keeps the accepted language small and obvious.
//
// Timing: the signature comparison is constant-time (CRYPTO_memcmp) over the
// fixed 43 characters. Parsing leaks only the token's shape, which the
// attacker chose.
//
// Secrets: nothing here logs or formats the secret or a token.
//
// Thread safety: TokenSigner and TokenAuthenticator are immutable after
// construction; every const member may be called from any thread at once.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "http/middleware.hpp"

namespace surge::users {

inline constexpr std::size_t kMaxTokenSize = 128;
inline constexpr std::size_t kSignatureChars = 43;  // base64url of 32 bytes, no padding

// RFC 4648 §5 base64url, without padding.
std::string base64url_encode(std::span<const unsigned char> bytes);
// Strict decoder: no padding, no whitespace, canonical (the unused low bits
// of the last character are zero), length % 4 != 1. nullopt otherwise.
std::optional<std::string> base64url_decode(std::string_view text);

struct TokenClaims {
  std::uint64_t user_id = 0;
  std::int64_t expires_unix = 0;
  friend bool operator==(const TokenClaims&, const TokenClaims&) = default;
};

// The payload and signature of a well-formed token (see the header comment),
// with the numbers parsed. nullopt when malformed. Does NOT check the
// signature or the expiry.
struct ParsedToken {
  TokenClaims claims;
  std::string_view payload;    // "<user_id>.<expires_unix>"
  std::string_view signature;  // the 43 characters
};
std::optional<ParsedToken> parse_token(std::string_view token);

// Signs and checks tokens with one secret (HMAC-SHA256 through OpenSSL's
// EVP_MAC; the key is set once in a template context that each call copies).
class TokenSigner {
 public:
  // An empty secret is allowed and signs nothing valid: sign() throws
  // std::logic_error, verify() always fails. Throws std::runtime_error when
  // OpenSSL cannot set up HMAC-SHA256.
  explicit TokenSigner(std::string_view secret);
  ~TokenSigner();
  TokenSigner(const TokenSigner&) = delete;
  TokenSigner& operator=(const TokenSigner&) = delete;
  TokenSigner(TokenSigner&&) = delete;
  TokenSigner& operator=(TokenSigner&&) = delete;

  bool configured() const noexcept { return configured_; }

  // "<user_id>.<expires_unix>.<sig>". user_id MUST be 1..INT64_MAX and
  // expires_unix >= 0 (std::invalid_argument otherwise: a programming error).
  std::string sign(std::uint64_t user_id, std::int64_t expires_unix) const;

  // The claims of a well-formed, correctly signed token, whatever its expiry.
  std::optional<TokenClaims> verify_signature(std::string_view token) const;

 private:
  // base64url(HMAC(secret, payload)) into `out` (kSignatureChars bytes).
  void signature(std::string_view payload, std::span<char, kSignatureChars> out) const;

  struct MacCtx;
  std::unique_ptr<MacCtx> template_;
  bool configured_ = false;
};

// Seconds since the Unix epoch. Injectable so tests control expiry.
using UnixClock = std::function<std::int64_t()>;
std::int64_t system_unix_now();

// The http::Authenticator of Surge: user tokens by TokenSigner, the admin
// token by comparing SHA-256 digests with CRYPTO_memcmp (constant time, and
// independent of the candidate's length; only the digest is kept).
class TokenAuthenticator final : public http::Authenticator {
 public:
  // An empty secret: no user token verifies. An empty admin_token: no admin
  // token matches (admin routes answer 401/403). `clock` MUST be
  // thread-safe (it is called from every I/O thread).
  TokenAuthenticator(std::string_view secret, std::string_view admin_token,
                     UnixClock clock = system_unix_now);

  // Well-formed, correctly signed, positive id, and now < expires_unix.
  std::optional<std::uint64_t> verify_user_token(std::string_view token) const override;
  bool is_admin_token(std::string_view token) const override;

  const TokenSigner& signer() const noexcept { return signer_; }
  std::int64_t now() const { return clock_(); }

 private:
  using Digest = std::array<unsigned char, 32>;
  static Digest sha256(std::string_view text);

  TokenSigner signer_;
  std::optional<Digest> admin_digest_;  // SHA-256 of the admin token; nullopt: none
  UnixClock clock_;
};

}  // namespace surge::users
