#pragma once

// The flash-sale stream's sink (worker/consumer.hpp): a batch of
// reservations becomes orders in ONE transaction of two statements:
//   1. INSERT INTO flashsale_orders (order_ref, ...) ... ON CONFLICT DO NOTHING
//      (status 'queued'; the primary key order_ref makes redelivery harmless)
//   2. for the batch's refs still 'queued' (locked FOR UPDATE, so two
//      consumers holding the same entry cannot both convert it): draw order
//      ids, INSERT orders (source 'flashsale', total = sale price × units)
//      and one order_items row at the sale price, and UPDATE
//      flashsale_orders SET order_id, status = 'confirmed' — conditional on
//      status = 'queued'.
// After the commit, each buyer's cached order list page 1
// (profile::user_key(user, ":orders:page1"), on the buyer's shard) is
// deleted by the user's read-your-writes marker script (profile/markers.hpp)
// with the commit's LSN, for every entry of the batch (also ones confirmed
// by an earlier delivery whose delete may not have happened). Through the
// marker, not a bare DEL: a page-1 load that started before the commit
// then finds the marker moved and does not re-cache its page without the
// new order, and the buyer's next reads wait for a replica that has the
// order. A failed update is counted: the page then lives until its TTL.
//
// abandon() (the worker gives up on a reservation that fails every
// delivery): the ref's row becomes status 'failed' (inserted if missing,
// never over a 'confirmed' one), then release() gives the units back to the
// sale and the buyer (hot.hpp). A database that is unreachable throws (the
// entry stays pending: nothing is given up while the failure cannot be
// recorded); one that refuses the row itself (e.g. the sale's row is gone)
// is logged, and the Redis record alone then answers "failed".
//
// Entry: fs <sale id> user <id> qty <units> ref <order_ref> ... (hot.hpp).

#include <chrono>

#include "pg/cluster.hpp"
#include "profile/markers.hpp"
#include "redis/shards.hpp"
#include "worker/consumer.hpp"

namespace surge::flashsales {

class OrderSink : public worker::Sink {
 public:
  // marker_ttl: the user center's profile.marker_ttl (same markers).
  OrderSink(pg::Cluster& db, redis::Shards& shards, metrics::Registry& registry,
            std::chrono::seconds marker_ttl = std::chrono::seconds(60));
  std::string_view stream() const override;
  bool well_formed(const campaigns::Entry& entry) const override;
  boost::asio::awaitable<void> persist(const std::vector<campaigns::Entry>& entries) override;
  boost::asio::awaitable<bool> abandon(const campaigns::Entry& entry) override;

 private:
  pg::Cluster& db_;
  redis::Shards& shards_;
  profile::SharedMarkers markers_;
  metrics::Counter confirmed_;
  metrics::Counter failed_;
  metrics::Counter cache_errors_;
};

}  // namespace surge::flashsales
