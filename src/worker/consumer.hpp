#pragma once

// Queue consumers of `surge worker`: consumer groups on the campaign streams
// (campaigns/stream.hpp), persisting each batch into PostgreSQL.
//
//   Pool ─ for each shard s, each Sink (stream) k, each i < consumers:
//            consumer "<host>:<pid>:<stream>:<s>:<i>" on io_per_thread[(…) % threads]
//
// One consumer's loop (a named coroutine; state in a shared_ptr):
//   1. XGROUP CREATE <stream> persist 0 MKSTREAM (BUSYGROUP = exists: fine).
//   2. Every claim_idle / 2: XAUTOCLAIM entries idle longer than claim_idle
//      (a killed or stuck consumer's work, or a batch that failed), then
//      XPENDING for their delivery counts: an entry delivered more than
//      max_deliveries times gets one last attempt of its own (after a long
//      database outage every pending entry is over the bound, and none of
//      them is poison); if that fails too, Sink::abandon records the
//      failure, then the entry goes to <stream>:dead (fields kept, plus
//      source_id, deliveries, reason) and is XACKed. The rest is processed.
//   3. Otherwise XREADGROUP ... COUNT 4 x batch STREAMS <stream> > (no BLOCK:
//      a blocked read would hold up the pipelined connection it shares; an
//      empty read sleeps poll_interval instead, doubling up to 8x while
//      the stream stays empty). A reader coroutine does this ahead of the
//      persister and hands batches over through a one-batch channel, so a
//      commit is followed at once by the next INSERT. (On a shard with
//      appendfsync always each write command costs an fsync: one read per
//      four batches, and the XACK of what was committed since the last read
//      in the same write as the read, so that the pair costs one fsync.)
//   4. Malformed entries (Sink::well_formed false) go to the dead-letter
//      stream at once: no retry can fix them.
//   5. Sink::persist(batch): ONE transaction, idempotent (ON CONFLICT DO
//      NOTHING / conditional updates keyed by the entry). XACK only after it
//      committed (sent with the next XREADGROUP, see 3; on stop, at once).
//      A failed batch is retried entry by entry; entries that still fail
//      stay pending and come back through step 2.
//   Consumer 0 of each stream and shard also, every claim round: trims the
//   stream with XTRIM MINID = the oldest pending entry (or the group's last
//   delivered id when nothing is pending), so nothing unacknowledged is ever
//   trimmed, samples the queue metrics, and deletes the consumers stopped
//   workers left behind (idle past 2 × claim_idle, nothing pending, not
//   this process's; one script, so none can take entries meanwhile).
//
// Delivery is at least once (a crash between commit and XACK redelivers);
// the sinks make a redelivery harmless, so the effect is exactly once.
//
// Stop: stop() (any thread) asks every consumer to finish the batch in hand
// and exit; wait() blocks until all have. Batches are never abandoned
// half-way by a graceful stop.
//
// Metrics (label stream = "rp:stream"/"fs:stream", shard = index):
//   surge_queue_persisted_total{stream}         entries persisted and acked
//   surge_queue_batches_total{stream}           committed batches
//   surge_queue_dead_letters_total{stream}      entries sent to <stream>:dead
//   surge_queue_claimed_total{stream}           entries taken over by XAUTOCLAIM
//   surge_queue_errors_total{stream}            failed batches / Redis errors
//   surge_queue_lag_entries{stream,shard}       not yet delivered (campaigns/queue_stats.hpp)
//   surge_queue_pending_entries{stream,shard}   delivered, not acknowledged
//   surge_queue_depth_entries{stream,shard}     lag + pending
//   surge_queue_oldest_pending_age_ms{stream,shard}  consumer lag in time
//
// Lifetime: Shards, the sinks and the Registry outlive the Pool; the
// io_contexts run until wait() returned.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "campaigns/stream.hpp"
#include "metrics/registry.hpp"
#include "redis/shards.hpp"

namespace surge::worker {

struct Settings {
  std::size_t consumers = 2;  // per stream per shard
  std::size_t batch_size = 200;
  std::chrono::milliseconds claim_idle{5000};
  std::size_t max_deliveries = 5;
  std::chrono::milliseconds poll_interval{20};
};

// What a stream's entries become. Implementations are called from the
// consumers' I/O threads, concurrently.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::string_view stream() const = 0;
  // Can this entry ever be persisted? (fields present and numeric...)
  virtual bool well_formed(const campaigns::Entry& entry) const = 0;
  // Persists the entries (well formed) in one transaction; idempotent.
  // Throws (pg::Error, ...) on failure: nothing of the batch is then kept.
  // shard: the stream's shard (for cache invalidations).
  virtual boost::asio::awaitable<void> persist(const std::vector<campaigns::Entry>& entries) = 0;
  // A well-formed entry is given up on (delivered too often, failing every
  // time): record that for the user and undo what its acceptance reserved.
  // Returns false when the entry turns out to be persisted after all (it is
  // then acknowledged, not dead-lettered). Throws when the failure cannot
  // be recorded now: the entry stays pending and comes back. Idempotent.
  virtual boost::asio::awaitable<bool> abandon(const campaigns::Entry& entry);
};

class Pool {
 public:
  Pool(Settings settings, redis::Shards& shards, const std::vector<Sink*>& sinks,
       std::vector<boost::asio::io_context*> io_per_thread,
       metrics::Registry& registry = metrics::Registry::global());
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  void start();
  void stop();
  // Blocks until every consumer has exited (after stop()), or `timeout`.
  // True when all exited.
  bool wait(std::chrono::milliseconds timeout);
  std::size_t running() const;

  // For /readyz (any thread): consumers configured and running, and the
  // queue as last sampled (summed over streams and shards).
  struct Stats {
    std::size_t consumers = 0;
    std::size_t running = 0;
    std::int64_t depth = 0;
    std::int64_t oldest_pending_age_ms = 0;
  };
  Stats stats() const;

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace surge::worker
