#include "http/paging.hpp"

#include <gtest/gtest.h>

#include "http/error.hpp"

namespace surge::http {
namespace {

std::string field_of(std::optional<std::string_view> page, std::optional<std::string_view> size) {
  try {
    parse_page(page, size);
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::kBadRequest);
    EXPECT_EQ(e.code(), "invalid_request");
    return std::string(e.what()).substr(0, std::string(e.what()).find(':'));
  }
  return "";
}

TEST(Paging, DefaultsWhenAbsent) {
  EXPECT_EQ(parse_page(std::nullopt, std::nullopt), (Page{1, 40}));
  EXPECT_EQ(parse_page(std::nullopt, std::nullopt, 20, 50), (Page{1, 20}));
}

TEST(Paging, AcceptsTheBounds) {
  EXPECT_EQ(parse_page("1", "1"), (Page{1, 1}));
  EXPECT_EQ(parse_page("3", "100"), (Page{3, 100}));
  EXPECT_EQ(parse_page("1000000", "7"), (Page{kMaxPage, 7}));
  EXPECT_EQ((Page{3, 40}).offset(), 80U);
  EXPECT_EQ((Page{1, 40}).offset(), 0U);
}

TEST(Paging, RejectionsNameTheField) {
  for (const char* bad : {"0", "101", "abc", "-1", "", " 5", "5 ", "+5", "05", "1.0", "1e2",
                          "99999999999999999999"}) {
    EXPECT_EQ(field_of(std::nullopt, bad), "page_size") << bad;
  }
  for (const char* bad : {"0", "-1", "x", "", "1000001", "01"}) {
    EXPECT_EQ(field_of(bad, std::nullopt), "page") << bad;
  }
}

TEST(Paging, BoundedUint) {
  EXPECT_EQ(parse_bounded_uint("0", 0, 5), 0U);
  EXPECT_EQ(parse_bounded_uint("5", 0, 5), 5U);
  EXPECT_FALSE(parse_bounded_uint("6", 0, 5));
  EXPECT_EQ(parse_bounded_uint("18446744073709551615", 0, UINT64_MAX), std::nullopt);  // 20 digits
  EXPECT_EQ(parse_bounded_uint("9223372036854775807", 0, UINT64_MAX), 9223372036854775807U);
}

}  // namespace
}  // namespace surge::http
