#include "orders/request.hpp"

#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "http/error.hpp"
#include "orders/orders.hpp"

namespace surge::orders {
namespace {

// The field named by a 400 (the message starts with it), "" when accepted.
std::string rejected_field(std::string_view body) {
  try {
    parse_items(body);
  } catch (const http::Error& e) {
    EXPECT_EQ(e.status(), http::Status::kBadRequest);
    EXPECT_EQ(e.code(), "invalid_request");
    const std::string what = e.what();
    return what.substr(0, what.find(':'));
  }
  return "";
}

TEST(OrderRequest, ParsesSortsAndMerges) {
  const auto items =
      parse_items(R"({"items":[{"product_id":9,"quantity":1},{"product_id":3,"quantity":2},)"
                  R"({"quantity":4,"product_id":9}]})");
  ASSERT_EQ(items.size(), 2U);
  EXPECT_EQ(items[0], (Item{3, 2}));
  EXPECT_EQ(items[1], (Item{9, 5}));
}

TEST(OrderRequest, AcceptsIntegralDoubles) {
  EXPECT_EQ(parse_items(R"({"items":[{"product_id":2.0,"quantity":3.0}]})"),
            (std::vector<Item>{{2, 3}}));
}

TEST(OrderRequest, RejectionsNameTheField) {
  EXPECT_EQ(rejected_field(R"({"items":[]})"), "items");
  EXPECT_EQ(rejected_field(R"({})"), "items");
  EXPECT_EQ(rejected_field(R"({"items":{}})"), "items");
  EXPECT_EQ(rejected_field(R"({"items":[1]})"), "items[0]");
  EXPECT_EQ(rejected_field(R"({"items":[{"product_id":1}]})"), "items[0].quantity");
  EXPECT_EQ(rejected_field(R"({"items":[{"quantity":1}]})"), "items[0].product_id");
  EXPECT_EQ(rejected_field(R"({"items":[{"product_id":1,"quantity":0}]})"), "items[0].quantity");
  EXPECT_EQ(rejected_field(R"({"items":[{"product_id":1,"quantity":1000000000000001}]})"),
            "items[0].quantity");
  EXPECT_EQ(rejected_field(R"({"items":[{"product_id":1,"quantity":1.5}]})"), "items[0].quantity");
  EXPECT_EQ(rejected_field(R"({"items":[{"product_id":-1,"quantity":1}]})"), "items[0].product_id");
  EXPECT_EQ(rejected_field(R"({"items":[{"product_id":"1","quantity":1}]})"),
            "items[0].product_id");
  EXPECT_EQ(rejected_field(R"({"items":[{"product_id":1,"quantity":1,"note":"x"}]})"),
            "items[0].note");
  EXPECT_EQ(rejected_field(R"({"items":[{"product_id":1,"quantity":1}],"coupon":"x"})"), "coupon");
  // Merged quantities stay within the bound.
  EXPECT_EQ(rejected_field(R"({"items":[{"product_id":1,"quantity":600000000000000},)"
                           R"({"product_id":1,"quantity":600000000000000}]})"),
            "items");
  EXPECT_EQ(rejected_field("not json"), "body");
}

TEST(OrderRequest, TooManyItems) {
  std::string body = R"({"items":[)";
  for (std::size_t i = 1; i <= kMaxItems + 1; ++i) {
    body += fmt::format(R"({}{{"product_id":{},"quantity":1}})", i > 1 ? "," : "", i);
  }
  body += "]}";
  EXPECT_EQ(rejected_field(body), "items");
}

TEST(OrderRequest, HashIsOfTheCanonicalItems) {
  const auto a =
      parse_items(R"({"items":[{"product_id":2,"quantity":1},{"product_id":1,"quantity":1},)"
                  R"({"product_id":2,"quantity":1}]})");
  const auto b = parse_items(
      R"({ "items" : [ {"quantity":2,"product_id":2}, {"product_id":1,"quantity":1} ] })");
  EXPECT_EQ(canonical_items(a), "1x1;2x2;");
  EXPECT_EQ(request_hash(a), request_hash(b));
  EXPECT_EQ(request_hash(a).size(), 16U);
  const auto c =
      parse_items(R"({"items":[{"product_id":1,"quantity":1},{"product_id":2,"quantity":3}]})");
  EXPECT_NE(request_hash(a), request_hash(c));
}

TEST(OrderRequest, IdempotencyKey) {
  EXPECT_EQ(checked_idempotency_key(std::nullopt), std::nullopt);
  EXPECT_EQ(checked_idempotency_key("abc-123_X"), "abc-123_X");
  EXPECT_EQ(checked_idempotency_key(std::string(kMaxIdempotencyKey, 'k')),
            std::string(kMaxIdempotencyKey, 'k'));
  for (const std::string& bad :
       {std::string(), std::string(kMaxIdempotencyKey + 1, 'k'), std::string("a b"),
        std::string("caf\xc3\xa9"), std::string("a\tb")}) {
    EXPECT_THROW(checked_idempotency_key(bad), http::Error) << bad;
  }
}

TEST(OrderRequest, Page1KeyIsTheSharedOne) {
  // The flash-sale consumer deletes exactly this key (orders.hpp).
  EXPECT_EQ(page1_key(42), "user:{42}:orders:page1");
}

}  // namespace
}  // namespace surge::orders
