#pragma once

// Red packets (API.md §5; DESIGN.md "Red packets"; README.md beside this file).
//
//   POST /api/v1/admin/redpackets              kAdmin 201 {"id","count","total_cents",
//                                                          "starts_at","ends_at","status"}
//   GET  /api/v1/redpackets/{id}               kNone  200 {"id","count","remaining",
//                                                          "total_cents","starts_at","ends_at","status"}
//   POST /api/v1/redpackets/{id}/grab          kUser  200 {"amount_cents","already_grabbed"}
//   GET  /api/v1/me/redpackets                 kUser  200 {"page","page_size","grabs":[...],
//                                                          "has_more"} (persisted, newest
//                                                          first, from a replica)
//   GET  /api/v1/admin/redpackets/{id}/summary kAdmin 200 {"granted_count","granted_cents",
//                                                          "persisted_count","persisted_cents"}
//
// Creation: split (split.hpp), one primary statement inserting the red
// packet and its amounts, then the preload of the campaign's shard
// (hot.hpp). A grab is one Lua script on that shard, answered without the
// database; `surge worker` persists the stream (worker/).
//
// Degradation: GET /redpackets/{id} with the shard down answers from the
// database (remaining = count − persisted grabs, an upper bound).
//
// Retention: the campaign's keys expire `hot_retention` after its end
// (hot.hpp). Once they are gone the database answers: GET counts the
// persisted grabs, a grab is 200 already_grabbed (the persisted amount) or
// 410 ended, the summary's granted figures are the persisted ones. A live
// campaign whose keys are missing (a shard that lost its data) answers
// 503: it cannot be decided without them.
//
// Errors: shard unreachable → 503 unavailable, Retry-After 1 (the grab is
// then not decided: never oversold). Creation whose preload fails → 503 (the
// row exists in the database but the campaign is not grabbable; create
// again). Database unreachable → 503.
//
// Metrics: surge_redpacket_grabs_total{outcome}.
//
// Thread safety: add_routes() before the server starts; everything else on
// the I/O threads. Lifetime: Cluster, Shards and Registry outlive it.

#include <array>
#include <chrono>
#include <cstdint>

#include <boost/asio/awaitable.hpp>

#include "catalog/change_publisher.hpp"
#include "http/router.hpp"
#include "metrics/registry.hpp"
#include "pg/cluster.hpp"
#include "redis/shards.hpp"

namespace surge::redpackets {

class RedPackets {
 public:
  // shards may be null (no Redis): every route that needs it answers 503.
  // hot_retention: how long after its end a campaign stays on its shard
  // (0 = for ever).
  RedPackets(pg::Cluster& db, redis::Shards* shards, metrics::Registry& registry,
             std::chrono::seconds hot_retention);

  void add_routes(http::Router& router);

  // Called after each admin write that changes the published static files
  // (catalog/change_publisher.hpp), before the write is answered.
  void publish_changes_with(catalog::PublishHook hook) { publish_ = std::move(hook); }

 private:
  boost::asio::awaitable<void> create(http::Context& ctx);
  boost::asio::awaitable<void> get(http::Context& ctx);
  boost::asio::awaitable<void> grab(http::Context& ctx);
  boost::asio::awaitable<void> mine(http::Context& ctx);
  boost::asio::awaitable<void> summary(http::Context& ctx);
  // Deletes a created campaign whose preload failed (rows, and keys if any).
  boost::asio::awaitable<void> forget(redis::Shards& shards, std::uint64_t id);
  // A grab the shard does not know: answered from the database (above).
  boost::asio::awaitable<void> grab_from_database(http::Context& ctx, std::uint64_t id);

  pg::Cluster& db_;
  redis::Shards* shards_;
  std::chrono::seconds hot_retention_;
  catalog::PublishHook publish_;
  // Indexed by Grab::Outcome.
  std::array<metrics::Counter, 6> grabs_;
};

}  // namespace surge::redpackets
