#pragma once

// Flash sales (API.md §6; DESIGN.md "Flash sales"; hot.hpp for the script).
//
//   POST /api/v1/admin/flashsales              kAdmin 201 sale
//   GET  /api/v1/flashsales/{id}               kNone  200 sale {"id","product_id","stock",
//                                                     "remaining","price_cents","per_user_limit",
//                                                     "starts_at","ends_at","status"}
//   POST /api/v1/flashsales/{id}/orders        kUser  202 {"order_ref","status":"queued"}
//   GET  /api/v1/flashsale-orders/{order_ref}  kUser  200 {"order_ref","status","order_id"}
//   GET  /api/v1/admin/flashsales/{id}/summary kAdmin 200 {"reserved","confirmed"}
//
// A reservation is decided by one script on the sale's shard and answered
// 202 at once; `surge worker` turns each stream entry into exactly one order
// (persist.hpp). An order ref reads "queued" from the shard until its row
// exists, then the row's status.
//
// Idempotency-Key: the same user and key answer the first order_ref again
// (202) and reserve nothing (decided inside the script).
//
// Degradation: GET /flashsales/{id} with the shard down answers from the
// database (remaining = stock − persisted units, an upper bound).
//
// Retention: the sale's keys expire `hot_retention` after its end
// (hot.hpp); then the database answers: GET counts the persisted units, an
// order is 410 ended, the summary's reserved units are the confirmed ones.
// A live sale whose keys are missing (a shard that lost its data) answers
// 503: no order can be decided without them.
//
// Errors: 400 quantity < 1; 404 unknown sale or ref (also another user's
// ref); 503 with Retry-After when the shard or the database is unreachable.
//
// Thread safety and lifetime: as redpackets::RedPackets.

#include <array>
#include <chrono>
#include <cstdint>

#include <boost/asio/awaitable.hpp>

#include "catalog/change_publisher.hpp"
#include "http/router.hpp"
#include "metrics/registry.hpp"
#include "pg/cluster.hpp"
#include "redis/shards.hpp"

namespace surge::flashsales {

class FlashSales {
 public:
  // hot_retention: how long after its end a sale stays on its shard
  // (0 = for ever).
  FlashSales(pg::Cluster& db, redis::Shards* shards, metrics::Registry& registry,
             std::chrono::seconds hot_retention);

  void add_routes(http::Router& router);

  // Called after each admin write that changes the published static files
  // (catalog/change_publisher.hpp), before the write is answered.
  void publish_changes_with(catalog::PublishHook hook) { publish_ = std::move(hook); }

 private:
  boost::asio::awaitable<void> create(http::Context& ctx);
  boost::asio::awaitable<void> get(http::Context& ctx);
  boost::asio::awaitable<void> order(http::Context& ctx);
  boost::asio::awaitable<void> order_status(http::Context& ctx);
  boost::asio::awaitable<void> summary(http::Context& ctx);
  // Deletes a created sale whose preload failed (row, and keys if any).
  boost::asio::awaitable<void> forget(redis::Shards& shards, std::uint64_t id);
  // An order the shard does not know: answered from the database (above).
  boost::asio::awaitable<void> order_from_database(std::uint64_t id);

  pg::Cluster& db_;
  redis::Shards* shards_;
  std::chrono::seconds hot_retention_;
  catalog::PublishHook publish_;
  std::array<metrics::Counter, 9> orders_;  // by Reservation::Outcome
};

}  // namespace surge::flashsales
