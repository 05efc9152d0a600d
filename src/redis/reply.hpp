#pragma once

// Reply: an owned Redis reply (RESP2), independent of hiredis.
//
//   Reply ── nil
//         ├─ integer   std::int64_t
//         ├─ string    bulk string, or status line (+OK) with is_status()
//         ├─ error     error line; error_prefix() = first word ("WRONGTYPE")
//         └─ array     std::vector<Reply> (nested arrays, EXEC results, pub/sub)
//
// hiredis parses the bytes; the connection's reader builds Reply objects
// directly (reply_reader.hpp), so nothing hiredis-owned outlives the reader
// loop.
//
// Checked accessors (as_integer, as_string, as_array) throw ServerError when
// the reply is an error reply and ProtocolError when it is of another type:
// a caller that expects an integer never reads garbage.
//
// Thread safety: a plain value type (no sharing).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace surge::redis {

class Reply {
 public:
  using Array = std::vector<Reply>;
  enum class Type : unsigned char { kNil, kInteger, kString, kStatus, kError, kArray };

  // Nil.
  Reply() noexcept = default;

  static Reply nil() noexcept { return {}; }
  static Reply integer(std::int64_t value);
  static Reply string(std::string value);
  static Reply status(std::string value);
  // `line` is the error line without "-" and CRLF ("ERR unknown command").
  static Reply error(std::string line);
  static Reply array(Array elements);

  Type type() const noexcept;
  bool is_nil() const noexcept { return v_.index() == 0; }
  bool is_integer() const noexcept { return v_.index() == 1; }
  // Bulk string or status line.
  bool is_string() const noexcept { return v_.index() == 2; }
  bool is_status() const noexcept { return is_string() && status_; }
  bool is_error() const noexcept { return v_.index() == 3; }
  bool is_array() const noexcept { return v_.index() == 4; }

  // Checked accessors; see the header comment for what they throw.
  std::int64_t as_integer() const;
  const std::string& as_string() const;
  std::string& as_string();
  const Array& as_array() const;
  Array& as_array();
  // Nil → nullopt, string → its value, anything else throws as above (GET).
  std::optional<std::string> as_optional_string() const;

  // Error replies: the first word and the whole line; empty unless is_error().
  std::string_view error_prefix() const noexcept;
  std::string_view error_line() const noexcept;
  // Throws ServerError if this is an error reply (top level only).
  void throw_if_error() const;

  // A short human-readable form for logs and test failures:
  // nil, 42, "text", +OK, -ERR ..., [1, "a", nil].
  std::string debug_string() const;

  friend bool operator==(const Reply& a, const Reply& b);

 private:
  struct ErrorLine {
    std::string line;
    std::size_t prefix_size = 0;
  };
  [[noreturn]] void throw_type_mismatch(Type wanted) const;

  std::variant<std::monostate, std::int64_t, std::string, ErrorLine, Array> v_;
  bool status_ = false;
};

std::string_view type_name(Reply::Type type) noexcept;

}  // namespace surge::redis
