#include "redis/script.hpp"

#include <array>
#include <cstddef>
#include <stdexcept>
#include <string_view>

#include <openssl/evp.h>

namespace surge::redis {

std::string sha1_hex(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, EVP_sha1(), nullptr) != 1) {
    throw std::runtime_error("SHA1 failed (OpenSSL EVP_Digest)");
  }
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out;
  out.reserve(std::size_t{size} * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0x0f];
  }
  return out;
}

Script::Script(std::string source) {
  std::string sha = sha1_hex(source);
  data_ = std::make_shared<const Data>(Data{std::move(source), std::move(sha)});
}

}  // namespace surge::redis
