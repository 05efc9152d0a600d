#include "orders/request.hpp"

#include <algorithm>
#include <xxhash.h>

#include <fmt/format.h>

#include "http/error.hpp"
#include "http/json_body.hpp"

namespace surge::orders {

std::vector<Item> parse_items(std::string_view body) {
  const http::JsonBody json(body);
  for (const auto& field : json.object()) {
    if (field.key() != "items") {
      throw http::Error::invalid_request(field.key(), "unknown field (allowed: items)");
    }
  }
  const boost::json::array& list = json.required_array("items");
  if (list.empty() || list.size() > kMaxItems) {
    throw http::Error::invalid_request("items", fmt::format("must hold 1 to {} items", kMaxItems));
  }
  std::vector<Item> items;
  items.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string where = fmt::format("items[{}]", i);
    if (!list[i].is_object()) {
      throw http::Error::invalid_request(where, "must be an object {product_id, quantity}");
    }
    const boost::json::object& o = list[i].get_object();
    Item item;
    bool has_id = false;
    bool has_quantity = false;
    for (const auto& field : o) {
      if (field.key() == "product_id") {
        const auto id = http::as_int(field.value());
        if (!id || *id < 1) {
          throw http::Error::invalid_request(where + ".product_id", "must be a positive integer");
        }
        item.product_id = static_cast<std::uint64_t>(*id);
        has_id = true;
      } else if (field.key() == "quantity") {
        const auto q = http::as_int(field.value());
        if (!q || *q < 1 || *q > kMaxQuantity) {
          throw http::Error::invalid_request(
              where + ".quantity", fmt::format("must be an integer from 1 to {}", kMaxQuantity));
        }
        item.quantity = *q;
        has_quantity = true;
      } else {
        throw http::Error::invalid_request(where + "." + std::string(field.key()),
                                           "unknown field (allowed: product_id, quantity)");
      }
    }
    if (!has_id) {
      throw http::Error::invalid_request(where + ".product_id", "required");
    }
    if (!has_quantity) {
      throw http::Error::invalid_request(where + ".quantity", "required");
    }
    items.push_back(item);
  }
  std::ranges::sort(items, {}, &Item::product_id);
  std::vector<Item> merged;
  merged.reserve(items.size());
  for (const Item& item : items) {
    if (!merged.empty() && merged.back().product_id == item.product_id) {
      merged.back().quantity += item.quantity;
      if (merged.back().quantity > kMaxQuantity) {
        throw http::Error::invalid_request(
            "items",
            fmt::format("product {}: merged quantity exceeds {}", item.product_id, kMaxQuantity));
      }
    } else {
      merged.push_back(item);
    }
  }
  return merged;
}

std::string canonical_items(const std::vector<Item>& items) {
  std::string out;
  for (const Item& item : items) {
    fmt::format_to(std::back_inserter(out), "{}x{};", item.product_id, item.quantity);
  }
  return out;
}

std::string request_hash(const std::vector<Item>& items) {
  const std::string canonical = canonical_items(items);
  return fmt::format("{:016x}", XXH3_64bits(canonical.data(), canonical.size()));
}

std::optional<std::string> checked_idempotency_key(std::optional<std::string_view> header) {
  if (!header) {
    return std::nullopt;
  }
  const std::string_view key = *header;
  const bool visible = std::ranges::all_of(key, [](char c) { return c >= 0x21 && c <= 0x7E; });
  if (key.empty() || key.size() > kMaxIdempotencyKey || !visible) {
    throw http::Error::invalid_request(
        "Idempotency-Key",
        fmt::format("must be 1 to {} visible ASCII characters", kMaxIdempotencyKey));
  }
  return std::string(key);
}

}  // namespace surge::orders
