#pragma once

// An owned query result: the values are copied out of libpq's PGresult (one
// contiguous buffer) and the PGresult is freed at once, so a Result is a
// plain value — movable across threads and coroutines, no libpq lifetime.
//
// Values are in libpq's text format. get<T>(row, col) converts:
//   std::string_view   the bytes (valid while the Result lives)
//   std::string        a copy
//   std::int64_t, std::int32_t, std::int16_t, std::uint64_t, std::uint32_t
//                      decimal; out of range or not a number → throws
//   double             decimal, "NaN", "Infinity", "-Infinity"
//   bool               "t" / "f"
//   std::optional<T>   nullopt for NULL, else get<T>
// A NULL read as a non-optional T throws std::invalid_argument (use
// is_null() or std::optional<T>). Type and index errors are programming
// errors: std::invalid_argument / std::out_of_range, not pg::Error.
//
// Thread safety: const member functions may be called concurrently.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

struct pg_result;  // libpq's PGresult, kept out of this header

namespace surge::pg {

class Result {
 public:
  Result() = default;

  // Copies everything out of `res` (which the caller still owns and frees).
  static Result copy_from(const pg_result* res);

  std::size_t rows() const noexcept { return rows_; }
  std::size_t cols() const noexcept { return names_.size(); }
  bool empty() const noexcept { return rows_ == 0; }

  // Rows affected by INSERT/UPDATE/DELETE/MERGE/SELECT/COPY/... (the number in
  // the command tag, e.g. "UPDATE 3" → 3); 0 when the tag has none.
  std::uint64_t affected() const noexcept { return affected_; }
  // The command tag, e.g. "INSERT 0 1".
  std::string_view command() const noexcept { return command_; }

  // The index of the column named `name`; throws std::out_of_range.
  std::size_t column(std::string_view name) const;
  std::string_view column_name(std::size_t col) const { return names_.at(col); }

  bool is_null(std::size_t row, std::size_t col) const { return cell(row, col).length < 0; }
  bool is_null(std::size_t row, std::string_view name) const { return is_null(row, column(name)); }

  // The raw text of a value ("" for NULL).
  std::string_view text(std::size_t row, std::size_t col) const {
    const Cell& c = cell(row, col);
    return c.length < 0
               ? std::string_view{}
               : std::string_view(data_).substr(c.offset, static_cast<std::size_t>(c.length));
  }

  template <typename T>
  T get(std::size_t row, std::size_t col) const;
  template <typename T>
  T get(std::size_t row, std::string_view name) const {
    return get<T>(row, column(name));
  }

 private:
  struct Cell {
    std::uint32_t offset = 0;
    std::int32_t length = -1;  // -1: NULL
  };
  const Cell& cell(std::size_t row, std::size_t col) const;
  [[noreturn]] void throw_null(std::size_t row, std::size_t col) const;

  std::size_t rows_ = 0;
  std::vector<std::string> names_;
  std::vector<Cell> cells_;  // row-major
  std::string data_;
  std::string command_;
  std::uint64_t affected_ = 0;
};

// Text → value conversions used by Result::get (exposed for tests and for
// callers parsing text themselves). Each throws std::invalid_argument naming
// the text when it does not convert.
std::int64_t parse_int64(std::string_view text);
std::uint64_t parse_uint64(std::string_view text);
double parse_double(std::string_view text);
bool parse_bool(std::string_view text);

namespace detail {
template <typename T>
struct optional_of {  // NOLINT(readability-identifier-naming): a trait, named like std's
  using type = void;
};
template <typename T>
struct optional_of<std::optional<T>> {
  using type = T;
};
template <typename Narrow, typename Wide>
Narrow narrow(Wide v, std::string_view text) {
  if (v < static_cast<Wide>(std::numeric_limits<Narrow>::min()) ||
      v > static_cast<Wide>(std::numeric_limits<Narrow>::max())) {
    throw std::invalid_argument("pg: value out of range: " + std::string(text));
  }
  return static_cast<Narrow>(v);
}
}  // namespace detail

template <typename T>
T Result::get(std::size_t row, std::size_t col) const {
  using Inner = typename detail::optional_of<T>::type;
  if constexpr (!std::is_void_v<Inner>) {
    if (is_null(row, col)) {
      return std::nullopt;
    }
    return get<Inner>(row, col);
  } else {
    if (is_null(row, col)) {
      throw_null(row, col);
    }
    const std::string_view t = text(row, col);
    if constexpr (std::is_same_v<T, std::string_view>) {
      return t;
    } else if constexpr (std::is_same_v<T, std::string>) {
      return std::string(t);
    } else if constexpr (std::is_same_v<T, bool>) {
      return parse_bool(t);
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
      return parse_int64(t);
    } else if constexpr (std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int16_t>) {
      return detail::narrow<T>(parse_int64(t), t);
    } else if constexpr (std::is_same_v<T, std::uint64_t>) {
      return parse_uint64(t);
    } else if constexpr (std::is_same_v<T, std::uint32_t>) {
      return detail::narrow<T>(parse_uint64(t), t);
    } else if constexpr (std::is_same_v<T, double>) {
      return parse_double(t);
    } else {
      static_assert(sizeof(T) == 0, "pg::Result::get: unsupported type");
    }
  }
}

}  // namespace surge::pg
