#pragma once

// POST /api/v1/orders input: parsing, validation, the canonical form and its
// hash (the idempotency check compares hashes). Pure functions, unit-tested
// in request_test.cpp.
//
//   {"items":[{"product_id":7,"quantity":2},{"product_id":3,"quantity":1}]}
//
// Rules (each violation → http::Error 400 invalid_request naming the field):
//   items         an array of 1..kMaxItems objects
//   product_id    a positive 64-bit integer
//   quantity      an integer 1..kMaxQuantity
//   unknown keys  rejected (top level and inside an item)
// Repeated product ids are MERGED (quantities added; the sum must stay
// <= kMaxQuantity), the result sorted by product_id. The sort is also the
// lock order of the stock updates: two orders touching the same products
// lock their rows in the same order and cannot deadlock.
//
// Request hash: 16 hex digits of XXH3-64 over the canonical form
// "<id>x<qty>;..." of the merged, sorted items. "The same body" for the
// Idempotency-Key check therefore means the same items, whatever their
// order, duplicates or whitespace.
//
// Idempotency-Key: 1..200 visible ASCII characters (0x21..0x7E).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace surge::orders {

inline constexpr std::size_t kMaxItems = 100;
// The largest stock a product can have (catalog: 0..10^15): any quantity a
// stock could cover is a valid request, and one above the stock is a 409
// insufficient_stock, not a 400. Totals are checked for overflow.
inline constexpr std::int64_t kMaxQuantity = 1'000'000'000'000'000;
inline constexpr std::size_t kMaxIdempotencyKey = 200;

struct Item {
  std::uint64_t product_id = 0;
  std::int64_t quantity = 0;
  friend bool operator==(const Item&, const Item&) = default;
};

// Merged and sorted (see above). Throws http::Error 400.
std::vector<Item> parse_items(std::string_view body);

// Canonical form and its hash (see above).
std::string canonical_items(const std::vector<Item>& items);
std::string request_hash(const std::vector<Item>& items);

// nullopt when absent; throws http::Error 400 naming "Idempotency-Key" when
// present but empty, too long or not visible ASCII.
std::optional<std::string> checked_idempotency_key(std::optional<std::string_view> header);

}  // namespace surge::orders
