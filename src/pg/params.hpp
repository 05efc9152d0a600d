#pragma once

// Query parameters and statements.
//
// Parameters travel as text (libpq text format): the server parses each one
// as the type the statement expects ($1::bigint, a column's type, ...).
// Build them with params():
//
//   pg.write("UPDATE users SET nickname = $2, avatar_url = $3 WHERE id = $1",
//            pg::params(user_id, nickname, std::nullopt));
//
// Conversions: integers → decimal; bool → "t"/"f"; floating point →
// shortest round-trip decimal ("NaN", "Infinity", "-Infinity"); anything
// convertible to std::string_view → its bytes; std::nullopt, a disengaged
// std::optional or a null const char* → SQL NULL; an engaged std::optional<T>
// → T's conversion; a Param as is. `char` is rejected at compile time (a
// number or a one-letter string? say which). Arrays: pg::array(range) gives
// the text form of an array literal ("{1,2,3}", "{\"a\",\"b\"}"), for
// `= ANY($1::bigint[])` or `unnest($1::text[])` batches.
//
// Text parameters cannot hold a NUL byte (neither can PostgreSQL text).
//
// Thread safety: plain values.

#include <array>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <boost/container/small_vector.hpp>

namespace surge::pg {

// One parameter: text, or nullopt for SQL NULL.
using Param = std::optional<std::string>;
// Inline room for the common case; more spill to the heap.
using Params = boost::container::small_vector<Param, 4>;

// One SQL statement with its parameters ($1, $2, ...).
//
// Deliberately not an aggregate: GCC 12 mis-compiles an aggregate-initialized
// temporary inside a co_await expression (`co_await f(Statement{...})`): the
// temporary is relocated bytewise, and Params' inline buffer pointer then
// points at the old place (a bad free when destroyed). A constructor avoids
// it. The same GCC rejects a braced list (std::initializer_list) inside a
// co_await expression outright ("array used as initializer").
// (Its implicit moves may allocate, like every small_vector's: an allocation
// failure terminates here as everywhere else.)
struct Statement {  // NOLINT(bugprone-exception-escape)
  Statement() = default;
  Statement(std::string sql_text, Params values = {})  // NOLINT(google-explicit-constructor)
      : sql(std::move(sql_text)), params(std::move(values)) {}

  std::string sql;
  Params params;
};

namespace detail {

// Named like the standard library's traits, which it extends.
template <typename T>
struct is_optional : std::false_type {};  // NOLINT(readability-identifier-naming)
template <typename T>
struct is_optional<std::optional<T>> : std::true_type {};

template <typename T>
concept Integer = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char> &&
                  !std::same_as<T, char8_t> && !std::same_as<T, char16_t> &&
                  !std::same_as<T, char32_t> && !std::same_as<T, wchar_t>;

template <Integer T>
std::string integer_text(T v) {
  std::array<char, 24> buf{};
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return {buf.data(), r.ptr};
}

inline std::string float_text(double v) {
  if (std::isnan(v)) {
    return "NaN";
  }
  if (std::isinf(v)) {
    return v > 0 ? "Infinity" : "-Infinity";
  }
  std::array<char, 32> buf{};
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return {buf.data(), r.ptr};
}

}  // namespace detail

// ---------------------------------------------------------------------------
// to_param: one C++ value → one parameter.
// ---------------------------------------------------------------------------
inline Param to_param(std::nullopt_t /*null*/) {
  return std::nullopt;
}
inline Param to_param(const Param& p) {
  return p;
}
inline Param to_param(Param&& p) {
  return std::move(p);
}
inline Param to_param(bool b) {
  return std::string(b ? "t" : "f");
}
inline Param to_param(const char* s) {
  return s == nullptr ? Param{} : Param{std::string(s)};
}
inline Param to_param(std::string s) {
  return Param{std::move(s)};
}
inline Param to_param(std::string_view s) {
  return Param{std::string(s)};
}
template <detail::Integer T>
Param to_param(T v) {
  return detail::integer_text(v);
}
template <std::floating_point T>
Param to_param(T v) {
  return detail::float_text(static_cast<double>(v));
}
template <typename T>
requires(!std::same_as<T, std::string>) Param to_param(const std::optional<T>& v) {
  return v ? to_param(*v) : Param{};
}
template <typename T>
requires std::same_as < std::remove_cvref_t<T>,
char > Param to_param(T) = delete;  // ambiguous: use std::string(1, c) or int(c)

// The text form of a one-dimensional array literal: integers bare, anything
// else double-quoted with `"` and `\` escaped (so "NULL" stays a string).
template <std::ranges::input_range R>
Param array(const R& range) {
  using V = std::remove_cvref_t<std::ranges::range_value_t<R>>;
  std::string out = "{";
  bool first = true;
  for (const auto& v : range) {
    if (!first) {
      out += ',';
    }
    first = false;
    if constexpr (detail::Integer<V>) {
      out += detail::integer_text(v);
    } else {
      const std::string_view s(v);
      out += '"';
      for (const char c : s) {
        if (c == '"' || c == '\\') {
          out += '\\';
        }
        out += c;
      }
      out += '"';
    }
  }
  out += '}';
  return out;
}

// params(a, b, c) → Params{to_param(a), to_param(b), to_param(c)}.
template <typename... Args>
Params params(Args&&... args) {
  Params out;
  out.reserve(sizeof...(Args));
  // String literals arrive as arrays and decay to const char* on purpose.
  // NOLINTNEXTLINE(cppcoreguidelines-pro-bounds-array-to-pointer-decay)
  (out.push_back(to_param(std::forward<Args>(args))), ...);
  return out;
}

}  // namespace surge::pg
