#pragma once

// How far the persisting worker is behind on one campaign stream of one
// shard (campaigns/stream.hpp), and the gauges that publish it.
//
//   sample_queue(shards, shard, stream) ─ one read-only script on the shard:
//     lag      entries after the group's last-delivered id (not yet read)
//     pending  entries read and not acknowledged (XPENDING)
//     oldest_pending / last_delivered  the ids the worker trims up to
//
// Why the lag is counted here and not taken from XINFO GROUPS: Redis 7.0
// derives its `lag` from a per-group entries-read counter that AOF reloads
// (the counter is not in the propagated XCLAIMs) and trims leave wrong
// (redis/redis#13957, fixed in later releases): on this project's shards,
// after a few restarts and a day of benchmarks, it reported a million
// entries of lag on a stream of one entry. The script counts the
// undelivered entries itself with XRANGE, up to kExactLagUpTo; beyond that
// bound it takes Redis's figure, clamped to the stream's length
// (undelivered entries are never trimmed, so the length bounds the lag).
//
// QueueGauges registers the four gauges of every (stream, shard) once:
//   surge_queue_lag_entries{stream,shard}            not yet delivered
//   surge_queue_pending_entries{stream,shard}        delivered, not acked
//   surge_queue_depth_entries{stream,shard}          lag + pending
//   surge_queue_oldest_pending_age_ms{stream,shard}  consumer lag in time
// `surge worker` sets them in its maintenance round; `surge serve` runs a
// QueueMonitor so every app's /metrics (what the load balancer exposes)
// shows the queues too.
//
// Thread safety: sample_queue follows redis::Shards (await on an I/O
// thread). Gauges are atomics: set them from any thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "metrics/registry.hpp"
#include "redis/shards.hpp"

namespace surge::campaigns {

// Below this many undelivered entries the lag is exact.
inline constexpr std::int64_t kExactLagUpTo = 1000;

struct QueueSample {
  std::int64_t lag = 0;
  std::int64_t pending = 0;
  std::string oldest_pending;  // "" when nothing is pending
  std::string last_delivered;  // "" when the group does not exist yet

  std::int64_t depth() const noexcept { return lag + pending; }
  // Milliseconds since the oldest pending entry was appended; 0 if none.
  std::int64_t oldest_pending_age_ms(std::int64_t now_ms) const;
};

// An absent stream samples as all zeros. Throws what Shards::eval throws.
boost::asio::awaitable<QueueSample> sample_queue(redis::Shards& shards, std::size_t shard,
                                                 std::string_view stream);

class QueueGauges {
 public:
  QueueGauges(metrics::Registry& registry, const std::vector<std::string_view>& streams,
              std::size_t shard_count);

  void set(std::size_t stream_index, std::size_t shard, const QueueSample& sample) const;

  // Sums and maxima over every stream and shard (readiness details).
  std::int64_t total_depth() const;
  std::int64_t max_oldest_pending_age_ms() const;

 private:
  struct Series {
    metrics::Gauge lag;
    metrics::Gauge pending;
    metrics::Gauge depth;
    metrics::Gauge oldest_age_ms;
  };
  std::size_t shard_count_;
  std::vector<Series> series_;  // [stream_index * shard_count + shard]
};

// Samples every campaign stream of every shard each `interval` on `io` (one
// of the Shards' I/O contexts) until stop(). A shard that does not answer
// keeps its last values.
class QueueMonitor {
 public:
  QueueMonitor(redis::Shards& shards, metrics::Registry& registry,
               std::chrono::milliseconds interval);
  ~QueueMonitor();  // NOLINT(bugprone-exception-escape): see queue_stats.cpp
  QueueMonitor(const QueueMonitor&) = delete;
  QueueMonitor& operator=(const QueueMonitor&) = delete;

  void start(boost::asio::io_context& io);
  void stop();  // any thread; the loop ends at its next wake-up

 private:
  struct State;
  static boost::asio::awaitable<void> run(std::shared_ptr<State> s);
  std::shared_ptr<State> state_;
};

}  // namespace surge::campaigns
