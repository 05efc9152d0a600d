#pragma once

// Reading JSON request bodies with field-level errors (API.md §1: malformed
// JSON or a missing / ill-typed field → 400 invalid_request naming the field).
//
//   const JsonBody body(ctx.request);
//   auto name = body.required_string("name");
//   auto qty  = body.optional_int("quantity").value_or(1);
//
// Boost.JSON was chosen by measurement: docs/http.md and
// bench/micro/json_benchmark.cpp (parse + serialise of Surge-sized bodies).
// The parsed document lives in a monotonic arena inside JsonBody, so a small
// body costs no heap allocation.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/value.hpp>

#include "http/request.hpp"

namespace surge::http {

class JsonBody {
 public:
  // Throws Error 400 invalid_request: "body: …" for an empty or malformed body
  // or a body that is not a JSON object.
  explicit JsonBody(const Request& request);
  explicit JsonBody(std::string_view text);

  const boost::json::object& object() const { return *object_; }

  // Throws invalid_request naming `field` when absent or of another type.
  std::string_view required_string(std::string_view field) const;
  std::int64_t required_int(std::string_view field) const;
  bool required_bool(std::string_view field) const;
  const boost::json::array& required_array(std::string_view field) const;

  // Absent or null → nullopt; present with another type → invalid_request.
  std::optional<std::string_view> optional_string(std::string_view field) const;
  std::optional<std::int64_t> optional_int(std::string_view field) const;

 private:
  const boost::json::value* find(std::string_view field) const;
  // Not zero-filled: the arena hands out what it writes before reading it.
  std::array<unsigned char, 4096> arena_buffer_;  // NOLINT(cppcoreguidelines-pro-type-member-init)
  boost::json::monotonic_resource arena_{arena_buffer_.data(), arena_buffer_.size()};
  // Lives in the arena too: a value move-assigned from a parse keeps the
  // target's storage, so a default-constructed document_ would copy the
  // whole parse onto the heap.
  boost::json::value document_ = boost::json::value(boost::json::storage_ptr(&arena_));
  const boost::json::object* object_ = nullptr;
};

// Reads an integer from a JSON value: an integer, or a double with an exact
// integral value (some clients send 5.0). nullopt otherwise.
std::optional<std::int64_t> as_int(const boost::json::value& v);

}  // namespace surge::http
