#include "http/paging.hpp"

#include <fmt/format.h>

#include "http/error.hpp"

namespace surge::http {

std::optional<std::uint64_t> parse_bounded_uint(std::string_view text, std::uint64_t min,
                                                std::uint64_t max) noexcept {
  if (text.empty() || text.size() > 19 || (text.size() > 1 && text.front() == '0')) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

Page parse_page(std::optional<std::string_view> page, std::optional<std::string_view> page_size,
                std::uint64_t default_size, std::uint64_t max_size) {
  Page out;
  out.size = default_size;
  if (page) {
    const auto n = parse_bounded_uint(*page, 1, kMaxPage);
    if (!n) {
      throw Error::invalid_request("page",
                                   fmt::format("must be an integer from 1 to {}", kMaxPage));
    }
    out.number = *n;
  }
  if (page_size) {
    const auto n = parse_bounded_uint(*page_size, 1, max_size);
    if (!n) {
      throw Error::invalid_request("page_size",
                                   fmt::format("must be an integer from 1 to {}", max_size));
    }
    out.size = *n;
  }
  return out;
}

Page parse_page(const Request& request, std::uint64_t default_size, std::uint64_t max_size) {
  return parse_page(request.query_param("page"), request.query_param("page_size"), default_size,
                    max_size);
}

}  // namespace surge::http
