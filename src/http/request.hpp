#pragma once

#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace surge::http {

enum class Method : unsigned char { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions, kOther };
inline constexpr std::size_t kMethodCount = 8;

std::string_view method_name(Method m);
Method parse_method(std::string_view s);

struct Header {
  std::string_view name;
  std::string_view value;
};

// One parsed request. Every view points into the connection's buffers and is
// valid only until the handler's response has been produced: a handler that
// needs a value later (after a co_await that outlives the request) MUST copy it.
struct Request {
  Method method = Method::kGet;
  std::string_view method_text;
  std::string_view target;  // as sent: path + optional '?' query
  std::string_view path;
  std::string_view query;  // without the '?'
  unsigned version = 11;   // 10 or 11
  std::vector<Header> headers;
  std::string_view body;
  bool keep_alive = true;

  // First header with this name, compared case-insensitively.
  std::optional<std::string_view> header(std::string_view name) const;

  // Value of a query parameter (no percent-decoding: Surge's parameters are
  // numbers and identifiers). Empty optional when absent.
  std::optional<std::string_view> query_param(std::string_view name) const;
};

bool iequals(std::string_view a, std::string_view b);

}  // namespace surge::http
