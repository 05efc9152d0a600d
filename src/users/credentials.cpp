#include "users/credentials.hpp"

namespace surge::users {

std::size_t utf8_code_points(std::string_view text) noexcept {
  std::size_t n = 0;
  for (const char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0U) != 0x80U) {
      ++n;
    }
  }
  return n;
}

namespace {

bool name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

std::optional<std::string_view> name_problem(std::string_view name) noexcept {
  if (name.size() < kNameMin) {
    return "must be at least 3 characters";
  }
  if (name.size() > kNameMax) {
    return "must be at most 32 characters";
  }
  for (const char c : name) {
    if (!name_char(c)) {
      return "may contain only A-Z, a-z, 0-9 and _";
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> password_problem(std::string_view password) noexcept {
  // Bytes bound code points from above: a long body is refused without a scan.
  if (password.size() > kPasswordMax * 4) {
    return "must be at most 128 characters";
  }
  const std::size_t n = utf8_code_points(password);
  if (n < kPasswordMin) {
    return "must be at least 8 characters";
  }
  if (n > kPasswordMax) {
    return "must be at most 128 characters";
  }
  return std::nullopt;
}

bool valid_name(std::string_view name) noexcept {
  return !name_problem(name);
}
bool valid_password(std::string_view password) noexcept {
  return !password_problem(password);
}

}  // namespace surge::users
