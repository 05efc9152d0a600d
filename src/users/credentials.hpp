#pragma once

// The rules of account names and passwords (API.md §2), as pure functions
// so that registration, login and the tests share one definition.
//
//   name      3–32 characters of [A-Za-z0-9_] (ASCII only, case-sensitive:
//             "Alice" and "alice" are two accounts)
//   password  8–128 characters, counted as Unicode code points of its UTF-8
//             text (not bytes: "pässwört" is 8), any code point allowed,
//             NUL included (argon2 takes a length, not a C string)
//
// JSON strings reach these functions already validated as UTF-8 by the
// parser (Boost.JSON rejects invalid UTF-8), so the code-point count is the
// number of bytes that are not continuation bytes (10xxxxxx).

#include <cstddef>
#include <optional>
#include <string_view>

namespace surge::users {

inline constexpr std::size_t kNameMin = 3;
inline constexpr std::size_t kNameMax = 32;
inline constexpr std::size_t kPasswordMin = 8;    // code points
inline constexpr std::size_t kPasswordMax = 128;  // code points

// Code points of valid UTF-8 text (continuation bytes are not counted).
std::size_t utf8_code_points(std::string_view text) noexcept;

bool valid_name(std::string_view name) noexcept;
bool valid_password(std::string_view password) noexcept;

// Why a value is refused, as the human half of a 400 invalid_request
// ("name: must be 3-32 characters of A-Z, a-z, 0-9 and _"); nullopt when valid.
std::optional<std::string_view> name_problem(std::string_view name) noexcept;
std::optional<std::string_view> password_problem(std::string_view password) noexcept;

}  // namespace surge::users
