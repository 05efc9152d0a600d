#pragma once

// List paging (API.md §1 "Lists take page (from 1) and page_size, and echo
// both"; §4: default page_size 40, max 100).
//
//   const http::Page page = http::parse_page(ctx.request);   // throws 400
//   ... LIMIT page.size + 1 OFFSET page.offset() ...          // +1: has_more
//
// Errors: a page or page_size that is present but not a canonical decimal
// integer in range (page 1..kMaxPage, page_size 1..max_size) → Error 400
// invalid_request naming the field. Absent → the default (page 1,
// default_size). Thread safety: plain functions.

#include <cstdint>
#include <optional>
#include <string_view>

#include "http/request.hpp"

namespace surge::http {

// Far beyond any real list; keeps OFFSET and its multiplication bounded.
inline constexpr std::uint64_t kMaxPage = 1'000'000;

struct Page {
  std::uint64_t number = 1;  // from 1
  std::uint64_t size = 40;
  std::uint64_t offset() const noexcept { return (number - 1) * size; }
  friend bool operator==(const Page&, const Page&) = default;
};

// "42" → 42 for canonical decimals (no sign, no leading zero, no spaces)
// within [min, max]; nullopt otherwise.
std::optional<std::uint64_t> parse_bounded_uint(std::string_view text, std::uint64_t min,
                                                std::uint64_t max) noexcept;

Page parse_page(std::optional<std::string_view> page, std::optional<std::string_view> page_size,
                std::uint64_t default_size = 40, std::uint64_t max_size = 100);
Page parse_page(const Request& request, std::uint64_t default_size = 40,
                std::uint64_t max_size = 100);

}  // namespace surge::http
