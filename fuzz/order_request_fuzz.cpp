// Fuzzes POST /api/v1/orders bodies through orders::parse_items: any bytes
// give merged, sorted, bounded items or an http::Error 400, never a crash;
// the canonical form and hash of whatever parsed are computed too. The
// Idempotency-Key check gets the same bytes.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/error.hpp"
#include "orders/request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto items = surge::orders::parse_items(text);
    if (items.empty() || items.size() > surge::orders::kMaxItems) {
      __builtin_trap();
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].product_id == 0 || items[i].quantity < 1 ||
          items[i].quantity > surge::orders::kMaxQuantity ||
          (i > 0 && items[i - 1].product_id >= items[i].product_id)) {
        __builtin_trap();
      }
    }
    if (surge::orders::request_hash(items).size() != 16) {
      __builtin_trap();
    }
  } catch (const surge::http::Error& e) {
    if (e.status() != surge::http::Status::kBadRequest || e.code() != "invalid_request") {
      __builtin_trap();
    }
  }
  try {
    (void)surge::orders::checked_idempotency_key(text);
  } catch (const surge::http::Error& e) {
    if (e.status() != surge::http::Status::kBadRequest) {
      __builtin_trap();
    }
  }
  return 0;
}
