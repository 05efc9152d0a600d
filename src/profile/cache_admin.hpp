#pragma once

// POST /api/v1/admin/cache/invalidate (API.md §7), Auth kAdmin:
//
//   {"scope": "<name>", "id": N?}  → 200 {"scope","id","invalidated":true}
//                                    ("id": null when the scope takes none)
//
// A registry of scopes: each module registers the scopes of the data it
// caches, before the router serves:
//
//   admin.register_scope("user", CacheAdmin::IdRule::kRequired,
//                        [&store](std::optional<std::uint64_t> id) {
//                          return store.invalidate(*id);   // a named coroutine
//                        });
//
// Several handlers may register the same scope (the user center and the
// sign-in module both cache per-user data): they all run, in registration
// order, and MUST agree on the IdRule. Handlers MUST be plain functions that
// return a named coroutine's awaitable (STYLE.md 15), and idempotent.
//
// Errors (API.md §1): a body that is not a JSON object, a missing or
// non-string "scope", an unknown scope (including "products" and "catalog"
// until their modules register them), an "id" that is not a positive 64-bit
// integer, an id missing for kRequired or present for kNone → 400
// invalid_request naming the field. A handler that could not confirm its
// invalidation (returns false: a cache shard down) → 503 unavailable with
// Retry-After: the caller should retry once the shard is back. Handler
// exceptions propagate (pg::Error transient → 503, else 500).
//
// Metrics: surge_cache_admin_invalidations_total{scope} (successful calls).
//
// Thread safety: register_scope() before the server starts; run() from any
// I/O thread afterwards. Lifetime: outlives the router it added routes to.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "http/router.hpp"
#include "metrics/registry.hpp"

namespace surge::profile {

class CacheAdmin {
 public:
  enum class IdRule : unsigned char {
    kRequired,  // {"scope":"user","id":42}
    kOptional,  // one item, or everything of the scope without an id
    kNone,      // {"scope":"catalog"}
  };
  // True when every tier confirmed the invalidation.
  using Handler = std::function<boost::asio::awaitable<bool>(std::optional<std::uint64_t> id)>;

  explicit CacheAdmin(metrics::Registry& registry) : registry_(registry) {}

  // Throws std::invalid_argument for an empty name, an empty handler, or an
  // IdRule that differs from the scope's earlier registration.
  void register_scope(std::string name, IdRule rule, Handler handler);
  bool has_scope(std::string_view name) const;

  void add_routes(http::Router& router);

  struct Request {
    std::string scope;
    std::optional<std::uint64_t> id;
  };
  // Parses and checks a request body against the registered scopes; throws
  // http::Error 400 as described above.
  Request parse(std::string_view body) const;

  // Runs the scope's handlers; returns the 200 body. Throws http::Error.
  boost::asio::awaitable<std::string> run(Request request);

 private:
  struct Scope {
    IdRule rule = IdRule::kRequired;
    std::vector<Handler> handlers;
    metrics::Counter done;
  };
  boost::asio::awaitable<void> handle(http::Context& ctx);

  metrics::Registry& registry_;
  std::map<std::string, Scope, std::less<>> scopes_;
};

}  // namespace surge::profile
