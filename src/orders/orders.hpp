#pragma once

// Checkout orders (API.md §4; DESIGN.md "Orders"). Design notes, key layout
// and the list queries' plans: src/orders/README.md.
//
//   POST /api/v1/orders        kUser  {"items":[{"product_id","quantity"}]}
//                                     [Idempotency-Key] → 201 order
//                                     (200 the first order for a repeated key)
//   GET  /api/v1/orders        kUser  ?page=&page_size= → 200 {"page","page_size",
//                                     "orders":[...],"has_more"} newest first
//   GET  /api/v1/orders/{id}   kUser  200 order; 404 unknown or another user's
//
// Order: {"id","status","total_cents","items":[{"product_id","quantity",
// "price_cents"}],"created_at","source"}, rendered by PostgreSQL (one
// renderer: byte-identical on every server). A checkout order's status is
// "created" (payment is out of scope); source "checkout".
//
// place(): ONE primary transaction (interactive, pg::Transaction):
//   0. with a key: SELECT the user's order with that key (primary). Found →
//      same request hash: 200 with it; different: 422
//      idempotency_key_reused. Nothing else runs.
//   1. INSERT INTO orders (..., idempotency_key, request_hash) with total 0
//      FIRST: a concurrent twin with the same key blocks on the unique index
//      orders_user_id_idempotency_key_key until this transaction ends, then
//      fails with a unique violation → its transaction rolls back and it
//      answers the winner's order (step 0's rule). Inserting before touching
//      stock means twins never compete for stock: one order, whatever the
//      stock.
//   2. per item, in product_id order (the lock order: no deadlocks):
//        UPDATE products SET stock = stock - $2 WHERE id = $1 AND stock >= $2
//        RETURNING price_cents
//      no row → SELECT 1 FROM products WHERE id = $1 decides 404 not_found
//      (unknown product) or 409 insufficient_stock; the transaction rolls
//      back. The CHECK (stock >= 0) is the last line of defence.
//   3. UPDATE orders SET total_cents; INSERT INTO order_items (one statement);
//      SELECT the rendered order; COMMIT (→ LSN).
//   4. after the commit: ProfileStore::mark_write(user, lsn,
//      {user:{id}:orders:page1}) — the read-your-writes marker and the
//      deletion of the cached page 1 in one script on the user's shard —
//      then Products::stock_changed (drops the products' cached copies).
//
// list(): page 1 with the default size is cached on the user's shard as
//   user:{<id>}:orders:page1 (the response body, TTL page1_ttl). A miss
//   observes the user's marker, reads with its min_lsn (a replica that has
//   replayed the user's last write, else the primary) and fills the key only
//   if the marker still equals the fence it saw (a Lua script: a load racing
//   with a new order never re-caches the old page). Other pages and sizes:
//   a replica with the user's min_lsn. The flash-sale consumer deletes the
//   same key after creating a flash-sale order.
//
// Degradation: the user's shard down → page 1 is read from the primary
// (observe() says kPrimaryLsn), nothing is cached; the post-commit marker
// and delete are skipped (counted by the markers): a page 1 cached before
// the outage may then be served until page1_ttl once the shard is back.
// Database unreachable → 503 with Retry-After.
//
// Metrics:
//   surge_orders_created_total
//   surge_orders_replays_total                  repeated Idempotency-Key → first order
//   surge_orders_rejected_total{reason}         insufficient_stock, unknown_product,
//                                               idempotency_key_reused
//   surge_orders_page1_total{result}            hit, miss, error (shard)
//
// Thread safety: add_routes() before the server starts; the rest from any
// I/O thread. Lifetime: the Cluster, the Shards, the ProfileStore, the
// Products and the Registry outlive this object.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "http/paging.hpp"
#include "http/router.hpp"
#include "metrics/registry.hpp"
#include "orders/request.hpp"
#include "pg/cluster.hpp"
#include "profile/store.hpp"
#include "redis/script.hpp"
#include "redis/shards.hpp"

namespace surge::orders {

struct Settings {
  std::chrono::seconds page1_ttl{300};
  std::uint64_t default_page_size = 40;  // also the only cached size
  std::uint64_t max_page_size = 100;
};

// "user:{42}:orders:page1" (profile::user_key): the flash-sale consumer
// deletes exactly this key.
std::string page1_key(std::uint64_t user_id);

class Orders {
 public:
  // Called after a committed order with the products whose stock changed.
  using StockChanged = std::function<boost::asio::awaitable<void>(std::vector<std::uint64_t>)>;

  // shards may be null (no Redis: nothing cached). stock_changed may be empty.
  Orders(pg::Cluster& db, redis::Shards* shards, profile::ProfileStore& profiles, Settings settings,
         metrics::Registry& registry, StockChanged stock_changed = {});

  void add_routes(http::Router& router);

  struct Placed {
    std::string body;      // the order's JSON
    bool created = false;  // false: the first order of a repeated key
  };
  // Throws http::Error (404 unknown product, 409 insufficient_stock, 422
  // idempotency_key_reused) and pg::Error (database failures).
  boost::asio::awaitable<Placed> place(std::uint64_t user_id, std::vector<Item> items,
                                       std::optional<std::string> idempotency_key);
  // The page body.
  boost::asio::awaitable<std::string> list(std::uint64_t user_id, http::Page page);
  // nullopt: no such order of this user.
  boost::asio::awaitable<std::optional<std::string>> get(std::uint64_t user_id,
                                                         std::uint64_t order_id);

 private:
  boost::asio::awaitable<std::optional<Placed>> replay(std::uint64_t user_id, std::string key,
                                                       std::string hash);
  boost::asio::awaitable<std::string> read_page(std::uint64_t user_id, http::Page page,
                                                pg::Lsn min_lsn);
  boost::asio::awaitable<std::string> page1(std::uint64_t user_id);

  boost::asio::awaitable<void> post(http::Context& ctx);
  boost::asio::awaitable<void> get_list(http::Context& ctx);
  boost::asio::awaitable<void> get_one(http::Context& ctx);

  pg::Cluster& db_;
  redis::Shards* shards_;
  profile::ProfileStore& profiles_;
  Settings settings_;
  StockChanged stock_changed_;
  redis::Script fill_script_;
  metrics::Counter created_;
  metrics::Counter replays_;
  metrics::Counter rejected_stock_;
  metrics::Counter rejected_unknown_;
  metrics::Counter rejected_reused_;
  metrics::Counter page1_hits_;
  metrics::Counter page1_misses_;
  metrics::Counter page1_errors_;
};

}  // namespace surge::orders
