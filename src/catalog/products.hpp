#pragma once

// Products: the admin writes, the public reads, the catalog version (API.md
// §4). Products and the catalog are shared data (DESIGN.md "Shared data"):
// read through TwoLevelCache with single flight, so a burst of misses for
// one key does one database query on each server.
//
//   POST  /api/v1/admin/products       kAdmin  {"name","price_cents","stock"} → 201 product
//   PATCH /api/v1/admin/products/{id}  kAdmin  {"name"?,"price_cents"?,"stock"?} → 200 product
//   GET   /api/v1/products/{id}        kNone   200 product, ETag        404
//   GET   /api/v1/products?page=&page_size=    200 {"page","page_size","products","has_more"}
//   GET   /api/v1/catalog/version      kNone   200 {"version"}, ETag
//
// Product: {"id","name","price_cents","stock","updated_at"} rendered by
// PostgreSQL (json_build_object), so every server sends the same bytes and
// the same ETag.
//
// Caches (metrics label cache=...):
//   "products"       product:{<id>} → the product's JSON (absent cached too).
//                    L1 + L2 (Redis, placed by the id tag).
//   "catalog"        catalog → the catalog document (content.hpp); its
//                    version is hashed per request (XXH3, well under 1 µs
//                    per KiB). L1 + L2.
//   "product_pages"  products:<epoch>:<page>:<size> → a list page body.
//                    L1 only: pages cannot be enumerated for deletion, so
//                    every server keeps an epoch that any invalidation of a
//                    product or of the catalog bumps (the broadcast reaches
//                    every server); old-epoch entries age out by TTL/LRU.
//   L1 bounds: "products" takes [cache]; "catalog" one LRU shard, ≤ 16 MiB;
//   "product_pages" ≤ 4096 entries and 16 MiB.
//
// Loads read the primary: loads are rare (single flight, invalidation-driven)
// and a replica behind an admin write could refill L2 with the old row after
// the invalidation (no per-user read-your-writes marker applies to shared
// data).
//
// Freshness: every admin write and every order that changed stock
// (stock_changed) invalidates product:{id} and, for admin writes, the
// catalog — L1 here, L2 delete, broadcast to every server's L1. The admin
// scopes "products" (id optional: without one, every product) and "catalog"
// do the same on demand.
//
// Errors: body → 400 invalid_request naming the field (unknown fields too);
// database unreachable → 503 with Retry-After.
//
// Thread safety: add_routes()/register_admin_scopes() before the server
// starts; the rest from any I/O thread. Lifetime: the Cluster, the Shards,
// the RemoteCache and the Registry outlive this object.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "cache/redis_remote_cache.hpp"
#include "cache/two_level.hpp"
#include "catalog/change_publisher.hpp"
#include "http/paging.hpp"
#include "http/router.hpp"
#include "metrics/registry.hpp"
#include "pg/cluster.hpp"
#include "profile/cache_admin.hpp"
#include "redis/shards.hpp"

namespace surge::catalog {

struct NewProduct {
  std::string name;
  std::int64_t price_cents = 0;
  std::int64_t stock = 0;
};

struct ProductPatch {
  std::optional<std::string> name;
  std::optional<std::int64_t> price_cents;
  std::optional<std::int64_t> stock;
  bool empty() const noexcept { return !name && !price_cents && !stock; }
};

// Body parsers (throw http::Error 400 naming the field). Names: 1–200
// characters of valid UTF-8 (Boost.JSON checks), not blank; money and stock:
// 0..10^15.
NewProduct parse_new_product(std::string_view body);
ProductPatch parse_product_patch(std::string_view body);

// "product:{42}"
std::string product_key(std::uint64_t id);

class Products {
 public:
  // shards / remote may be null (no Redis: L1 only, single-server).
  // `cache_options`: the [cache] tiers (l1 TTL bounds cross-server staleness
  // only when the broadcast is lost).
  Products(pg::Cluster& db, redis::Shards* shards, cache::RedisRemoteCache* remote,
           const cache::TwoLevelOptions& cache_options, metrics::Registry& registry);
  ~Products();
  Products(const Products&) = delete;
  Products& operator=(const Products&) = delete;
  Products(Products&&) = delete;
  Products& operator=(Products&&) = delete;

  void add_routes(http::Router& router);
  // "products" (id optional) and "catalog" (no id).
  void register_admin_scopes(profile::CacheAdmin& admin);

  // Called after each admin write that changes the published static files
  // (catalog/change_publisher.hpp), before the write is answered.
  void publish_changes_with(catalog::PublishHook hook) { publish_ = std::move(hook); }

  // After a committed change of these products' stock (orders): drops their
  // cached copies everywhere. Never throws on cache errors.
  boost::asio::awaitable<void> stock_changed(std::vector<std::uint64_t> ids);

  // Domain calls (throw pg::Error on database failures).
  boost::asio::awaitable<cache::Value> get(std::uint64_t id);
  boost::asio::awaitable<cache::Value> page(http::Page page);
  boost::asio::awaitable<cache::Value> catalog();

 private:
  boost::asio::awaitable<std::optional<std::string>> load_product(std::uint64_t id);
  boost::asio::awaitable<std::optional<std::string>> load_page(http::Page page);
  boost::asio::awaitable<std::optional<std::string>> load_catalog();
  boost::asio::awaitable<bool> invalidate_product(std::uint64_t id);
  boost::asio::awaitable<bool> invalidate_catalog();
  boost::asio::awaitable<bool> products_scope(std::optional<std::uint64_t> id);
  boost::asio::awaitable<bool> catalog_scope(std::optional<std::uint64_t> id);
  void on_broadcast(std::string_view key) noexcept;

  boost::asio::awaitable<void> create(http::Context& ctx);
  boost::asio::awaitable<void> patch(http::Context& ctx);
  boost::asio::awaitable<void> get_one(http::Context& ctx);
  boost::asio::awaitable<void> list(http::Context& ctx);
  boost::asio::awaitable<void> version(http::Context& ctx);

  pg::Cluster& db_;
  std::unique_ptr<cache::TwoLevelCache> products_;
  std::unique_ptr<cache::TwoLevelCache> catalog_;
  std::unique_ptr<cache::TwoLevelCache> pages_;
  // Bumped by every product / catalog invalidation seen (local or broadcast).
  std::shared_ptr<std::atomic<std::uint64_t>> epoch_;
  metrics::Counter created_;
  metrics::Counter updated_;
  catalog::PublishHook publish_;
};

}  // namespace surge::catalog
