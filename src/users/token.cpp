#include "users/token.hpp"

#include <array>
#include <atomic>
#include <charconv>
#include <limits>
#include <stdexcept>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace surge::users {

// ===========================================================================
// base64url
// ===========================================================================

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// 0..63, or kNotBase64 for a character outside the alphabet.
constexpr std::uint8_t kNotBase64 = 0xFF;
constexpr std::array<std::uint8_t, 256> make_decode_table() {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) {
    v = kNotBase64;
  }
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::uint8_t>(i);
  }
  return t;
}
constexpr std::array<std::uint8_t, 256> kDecode = make_decode_table();

// Writes base64url of `bytes` (no padding) to `out`, which has room for
// encoded_size(bytes.size()) characters.
constexpr std::size_t encoded_size(std::size_t n) {
  return (n / 3) * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

void encode_into(std::span<const unsigned char> bytes, char* out) {
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned v = (unsigned{bytes[i]} << 16U) | (unsigned{bytes[i + 1]} << 8U) | bytes[i + 2];
    *out++ = kAlphabet[(v >> 18U) & 63U];
    *out++ = kAlphabet[(v >> 12U) & 63U];
    *out++ = kAlphabet[(v >> 6U) & 63U];
    *out++ = kAlphabet[v & 63U];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const unsigned v = unsigned{bytes[i]} << 16U;
    *out++ = kAlphabet[(v >> 18U) & 63U];
    *out++ = kAlphabet[(v >> 12U) & 63U];
  } else if (rest == 2) {
    const unsigned v = (unsigned{bytes[i]} << 16U) | (unsigned{bytes[i + 1]} << 8U);
    *out++ = kAlphabet[(v >> 18U) & 63U];
    *out++ = kAlphabet[(v >> 12U) & 63U];
    *out++ = kAlphabet[(v >> 6U) & 63U];
  }
}

}  // namespace

std::string base64url_encode(std::span<const unsigned char> bytes) {
  std::string out(encoded_size(bytes.size()), '\0');
  encode_into(bytes, out.data());
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  unsigned acc = 0;
  unsigned bits = 0;
  for (const char c : text) {
    const std::uint8_t v = kDecode[static_cast<unsigned char>(c)];
    if (v == kNotBase64) {
      return std::nullopt;
    }
    acc = (acc << 6U) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFFU));
    }
  }
  // Canonical: the 2 or 4 bits left over must be zero.
  if ((acc & ((1U << bits) - 1U)) != 0) {
    return std::nullopt;
  }
  return out;
}

// ===========================================================================
// Parsing
// ===========================================================================

namespace {

// A canonical non-negative decimal that fits in int64: digits only, no
// leading zero unless the number is "0".
std::optional<std::int64_t> parse_canonical(std::string_view text) {
  if (text.empty() || text.size() > 19 || (text.size() > 1 && text.front() == '0')) {
    return std::nullopt;
  }
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
  }
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return std::nullopt;  // 19 digits above INT64_MAX
  }
  return value;
}

}  // namespace

std::optional<ParsedToken> parse_token(std::string_view token) {
  if (token.size() > kMaxTokenSize) {
    return std::nullopt;
  }
  const std::size_t first = token.find('.');
  if (first == std::string_view::npos) {
    return std::nullopt;
  }
  const std::size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view id_text = token.substr(0, first);
  const std::string_view exp_text = token.substr(first + 1, second - first - 1);
  const std::string_view sig = token.substr(second + 1);
  // The signature has no '.', so a third dot makes it the wrong length or
  // character set below.
  if (sig.size() != kSignatureChars) {
    return std::nullopt;
  }
  for (const char c : sig) {
    if (kDecode[static_cast<unsigned char>(c)] == kNotBase64) {
      return std::nullopt;
    }
  }
  const auto id = parse_canonical(id_text);
  const auto expires = parse_canonical(exp_text);
  if (!id || *id <= 0 || !expires) {
    return std::nullopt;
  }
  ParsedToken out;
  out.claims.user_id = static_cast<std::uint64_t>(*id);
  out.claims.expires_unix = *expires;
  out.payload = token.substr(0, second);
  out.signature = sig;
  return out;
}

// ===========================================================================
// TokenSigner
// ===========================================================================

struct TokenSigner::MacCtx {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* keyed = nullptr;  // keyed once; never used directly, only copied
  std::uint64_t id = 0;          // process-unique: the key of the thread caches

  MacCtx() = default;
  MacCtx(const MacCtx&) = delete;
  MacCtx& operator=(const MacCtx&) = delete;
  MacCtx(MacCtx&&) = delete;
  MacCtx& operator=(MacCtx&&) = delete;
  ~MacCtx() {
    EVP_MAC_CTX_free(keyed);
    EVP_MAC_free(mac);
  }
};

namespace {

// The source of TokenSigner ids (see ThreadMac).
// NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables): a counter by nature
std::atomic<std::uint64_t> next_signer_id{1};

// Each thread keeps one copy of the keyed context of the signer it used
// last, and re-initialises it per signature (EVP_MAC_init with a NULL key
// keeps the key). Measured on the project VM (idle / under a parallel
// build): 0.19 / 0.6 µs per token, against 0.49 / 1.5 µs for an
// EVP_MAC_CTX_dup per call and 1.7 / 2.9 µs for the one-shot HMAC() (which
// fetches the algorithm every time). Every authenticated request pays it. The signer id is never
// reused, so a new signer at a dead one's address never finds the old key.
struct ThreadMac {
  std::uint64_t owner = 0;
  EVP_MAC_CTX* ctx = nullptr;
  ThreadMac() = default;
  ThreadMac(const ThreadMac&) = delete;
  ThreadMac& operator=(const ThreadMac&) = delete;
  ThreadMac(ThreadMac&&) = delete;
  ThreadMac& operator=(ThreadMac&&) = delete;
  ~ThreadMac() { EVP_MAC_CTX_free(ctx); }
};
// NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables): a per-thread cache
thread_local ThreadMac thread_mac;

}  // namespace

TokenSigner::TokenSigner(std::string_view secret)
    : template_(std::make_unique<MacCtx>()), configured_(!secret.empty()) {
  if (!configured_) {
    return;
  }
  template_->id = next_signer_id.fetch_add(1);
  template_->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (template_->mac == nullptr) {
    throw std::runtime_error("token: OpenSSL has no HMAC");
  }
  template_->keyed = EVP_MAC_CTX_new(template_->mac);
  std::array<char, 7> digest{'S', 'H', 'A', '2', '5', '6', '\0'};
  const std::array<OSSL_PARAM, 2> params{
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest.data(), 0),
      OSSL_PARAM_construct_end()};
  if (template_->keyed == nullptr ||
      EVP_MAC_init(template_->keyed, reinterpret_cast<const unsigned char*>(secret.data()),
                   secret.size(), params.data()) != 1) {
    throw std::runtime_error("token: cannot initialise HMAC-SHA256");
  }
}

TokenSigner::~TokenSigner() = default;

void TokenSigner::signature(std::string_view payload, std::span<char, kSignatureChars> out) const {
  ThreadMac& tm = thread_mac;
  if (tm.owner != template_->id || tm.ctx == nullptr) {
    EVP_MAC_CTX_free(tm.ctx);
    tm.owner = 0;
    tm.ctx = EVP_MAC_CTX_dup(template_->keyed);
    if (tm.ctx == nullptr) {
      throw std::runtime_error("token: EVP_MAC_CTX_dup failed");
    }
    tm.owner = template_->id;
  }
  std::array<unsigned char, 32> mac{};
  std::size_t mac_size = 0;
  if (EVP_MAC_init(tm.ctx, nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(tm.ctx, reinterpret_cast<const unsigned char*>(payload.data()),
                     payload.size()) != 1 ||
      EVP_MAC_final(tm.ctx, mac.data(), &mac_size, mac.size()) != 1 || mac_size != mac.size()) {
    // Leave no half-used context behind.
    EVP_MAC_CTX_free(tm.ctx);
    tm.ctx = nullptr;
    tm.owner = 0;
    throw std::runtime_error("token: HMAC-SHA256 failed");
  }
  static_assert(encoded_size(32) == kSignatureChars);
  encode_into(mac, out.data());
}

std::string TokenSigner::sign(std::uint64_t user_id, std::int64_t expires_unix) const {
  if (!configured_) {
    throw std::logic_error("token: no secret configured");
  }
  if (user_id == 0 ||
      user_id > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
      expires_unix < 0) {
    throw std::invalid_argument("token: user id or expiry out of range");
  }
  std::string token = std::to_string(user_id);
  token += '.';
  token += std::to_string(expires_unix);
  const std::size_t payload_size = token.size();
  token += '.';
  token.resize(token.size() + kSignatureChars);
  signature(std::string_view(token).substr(0, payload_size),
            std::span<char, kSignatureChars>(token.data() + payload_size + 1, kSignatureChars));
  return token;
}

std::optional<TokenClaims> TokenSigner::verify_signature(std::string_view token) const {
  if (!configured_) {
    return std::nullopt;
  }
  const auto parsed = parse_token(token);
  if (!parsed) {
    return std::nullopt;
  }
  std::array<char, kSignatureChars> expected{};
  signature(parsed->payload, expected);
  if (CRYPTO_memcmp(expected.data(), parsed->signature.data(), kSignatureChars) != 0) {
    return std::nullopt;
  }
  return parsed->claims;
}

// ===========================================================================
// TokenAuthenticator
// ===========================================================================

std::int64_t system_unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TokenAuthenticator::Digest TokenAuthenticator::sha256(std::string_view text) {
  Digest out{};
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), out.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != out.size()) {
    throw std::runtime_error("token: SHA-256 failed");
  }
  return out;
}

TokenAuthenticator::TokenAuthenticator(std::string_view secret, std::string_view admin_token,
                                       UnixClock clock)
    : signer_(secret), clock_(std::move(clock)) {
  if (!admin_token.empty()) {
    admin_digest_ = sha256(admin_token);
  }
  if (!clock_) {
    clock_ = system_unix_now;
  }
}

std::optional<std::uint64_t> TokenAuthenticator::verify_user_token(std::string_view token) const {
  const auto claims = signer_.verify_signature(token);
  if (!claims || claims->expires_unix <= clock_()) {
    return std::nullopt;
  }
  return claims->user_id;
}

bool TokenAuthenticator::is_admin_token(std::string_view token) const {
  if (!admin_digest_) {
    return false;
  }
  // Comparing digests makes the comparison constant-time in the content and
  // independent of where a wrong candidate first differs, whatever its length.
  const Digest candidate = sha256(token);
  return CRYPTO_memcmp(candidate.data(), admin_digest_->data(), candidate.size()) == 0;
}

}  // namespace surge::users
