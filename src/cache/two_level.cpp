#include "cache/two_level.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <utility>

namespace surge::cache {

namespace {

metrics::Labels labels(std::string_view name, std::string_view tier = {}) {
  metrics::Labels l{{"cache", std::string(name)}};
  if (!tier.empty()) {
    l.emplace_back("tier", std::string(tier));
  }
  return l;
}

}  // namespace

TwoLevelCache::TwoLevelCache(metrics::Registry& registry, std::string_view name,
                             TwoLevelOptions options, RemoteCache* remote)
    : options_(std::move(options)),
      remote_(options_.l2_enabled ? remote : nullptr),
      l2_hits_(registry.counter("surge_cache_hits_total", "Cache lookups answered, by tier.",
                                labels(name, "l2"))),
      l2_misses_(registry.counter("surge_cache_misses_total",
                                  "Cache lookups not answered, by tier.", labels(name, "l2"))),
      l2_errors_(registry.counter("surge_cache_errors_total",
                                  "Cache tier errors, degraded to the next tier.",
                                  labels(name, "l2"))),
      loads_(registry.counter("surge_cache_loads_total", "Loader calls after a miss in every tier.",
                              labels(name))),
      flights_(registry.counter("surge_cache_loads_shared_total",
                                "Lookups that joined another caller's load (single flight).",
                                labels(name))) {
  if (options_.l2_ttl.count() <= 0 || options_.l2_negative_ttl.count() <= 0) {
    throw std::invalid_argument("cache: l2_ttl and l2_negative_ttl must be positive");
  }
  if (!(options_.l2_jitter >= 0.0 && options_.l2_jitter <= 1.0)) {
    throw std::invalid_argument("cache: l2_jitter must be in [0, 1]");
  }
  if (options_.l1_enabled) {
    // ShardedLru takes its own copy of the options (clock and randomness
    // included); options_.l1.uniform stays here for the L2 TTLs.
    l1_ = std::make_unique<ShardedLru>(registry, name, options_.l1);
  }
}

TwoLevelCache::~TwoLevelCache() = default;

boost::asio::awaitable<Value> TwoLevelCache::get(std::string key, Loader loader) {
  Generation generation = 0;
  if (l1_) {
    Lookup hit = l1_->get(key);
    if (hit.hit()) {
      co_return std::move(hit.value);
    }
    generation = hit.generation;
  }
  // A non-coroutine lambda that hands its state, by value, to a named
  // coroutine: nothing refers to the lambda once load() has started. Built as
  // a named local, not a temporary inside the co_await: GCC 12 mis-moves the
  // captures of such temporaries (a std::string's SSO pointer left aiming at
  // this frame).
  std::string flight_key = key;
  SingleFlight<Value>::Load job = [this, key = std::move(key), loader = std::move(loader),
                                   generation]() mutable {
    return load(std::move(key), std::move(loader), generation);
  };
  co_return co_await flights_.run(std::move(flight_key), std::move(job));
}

boost::asio::awaitable<Value> TwoLevelCache::load(std::string key, Loader loader,
                                                  Generation generation) {
  // GCC 12 coroutines: every local has a unique name and no temporary spans
  // a co_await (both have miscompiled here).
  if (remote_ != nullptr) {
    std::optional<std::string> cached;
    bool l2_ok = true;
    try {
      cached = co_await remote_->get(key);
    } catch (const std::exception&) {
      // Degrade: a dead shard means a load, not an error (DESIGN.md 4).
      l2_ok = false;
      l2_errors_.add();
    }
    if (cached) {
      l2_hits_.add();
      Value from_l2;
      if (*cached != kL2AbsentMarker) {
        from_l2 = std::make_shared<const std::string>(std::move(*cached));
      }
      fill_l1(key, from_l2, generation);
      co_return from_l2;
    }
    if (l2_ok) {
      l2_misses_.add();
    }
  }

  loads_.add();
  std::optional<std::string> loaded = co_await loader();
  Value value;
  if (loaded) {
    value = std::make_shared<const std::string>(std::move(*loaded));
  }

  // Skip the L2 write when an invalidation already overtook this load: it
  // would put back the value the writer just deleted, for l2_ttl.
  const bool overtaken = l1_ && l1_->generation(key) != generation;
  if (remote_ != nullptr && !overtaken) {
    const std::string_view payload = value ? std::string_view(*value) : kL2AbsentMarker;
    const std::chrono::seconds ttl = l2_ttl_for(value);
    try {
      co_await remote_->set(key, payload, ttl);
    } catch (const std::exception&) {
      l2_errors_.add();
    }
  }
  fill_l1(key, value, generation);
  co_return value;
}

void TwoLevelCache::fill_l1(std::string_view key, const Value& value, Generation generation) {
  if (l1_) {
    l1_->put(key, value, std::nullopt, generation);
  }
}

std::chrono::seconds TwoLevelCache::l2_ttl_for(const Value& value) const {
  const std::chrono::seconds base = value ? options_.l2_ttl : options_.l2_negative_ttl;
  const double u = options_.l1.uniform ? options_.l1.uniform() : thread_uniform();
  const auto ttl = std::chrono::round<std::chrono::seconds>(jittered(base, options_.l2_jitter, u));
  return std::max(ttl, std::chrono::seconds(1));
}

boost::asio::awaitable<bool> TwoLevelCache::invalidate(std::string key) {
  on_invalidation(key);
  if (remote_ == nullptr) {
    co_return true;
  }
  bool ok = true;
  try {
    co_await remote_->del(key);
  } catch (const std::exception&) {
    ok = false;
    l2_errors_.add();
  }
  // Publish even if the delete failed: the other servers' L1 copies are
  // stale either way.
  try {
    co_await remote_->publish_invalidation(key);
  } catch (const std::exception&) {
    ok = false;
    l2_errors_.add();
  }
  co_return ok;
}

void TwoLevelCache::on_invalidation(std::string_view key) {
  if (l1_) {
    l1_->invalidate(key);
  }
  flights_.forget(key);
}

}  // namespace surge::cache
