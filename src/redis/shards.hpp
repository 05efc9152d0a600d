#pragma once

// Shards: the Redis access layer's public entry. One object per process,
// built by app/ from configuration; modules receive a reference.
//
//   Shards ── Core (shared): settings, per-shard breaker/health/metrics
//          ├─ thread 0 ─ pools[shard] (connections_per_thread pipelined
//          │             connections), health checks of shards 0, n, 2n …,
//          │             subscriber connections (one per shard per thread)
//          ├─ thread 1 ─ pools[shard], health checks of shards 1, n+1 …
//          └─ …
//
// Placement: shard_for(id) = jump consistent hash of XXH3(id) over the
// configured shards (see redis/hash.hpp for why). Keys of one user (or one
// campaign) MUST be placed by that user's (campaign's) id so that multi-key
// scripts stay on one shard.
//
// Threads: calls are made from coroutines running on one of io_per_thread's
// threads; each thread uses its own pool (found by the io_context that is
// running the calling coroutine), so no call takes a lock or crosses a
// thread. Calling from any other thread throws std::logic_error. The
// awaitables MUST be awaited on the thread that starts them (the normal
// `co_await shards.command(...)`).
//
// Breaker, per shard (shared by all threads): after breaker_failures
// consecutive connection/timeout failures (connect refused, I/O error,
// timeout; counted per failed connection session, not per caller, so one
// dropped connection with 100 callers in flight counts once) the breaker
// opens: calls fail at once with CircuitOpenError and nothing is sent. After
// breaker_open_for it is half-open: calls still fail fast, and the next
// health-check PING that succeeds closes it (one that fails re-opens it for
// another breaker_open_for). Any successful call resets the count.
//
// Health: every health_interval each shard is PINGed on a dedicated
// connection (so a probe never queues behind a big pipeline); state() reports
// kUp/kDown/kOpenCircuit and the last error, for /readyz. A shard is kDown
// until its first successful contact.
//
// Errors: every call throws redis::Error subclasses (error.hpp):
// CircuitOpenError, ConnectionError (also after stop()), TimeoutError,
// ProtocolError, and ServerError for a top-level error reply of command()
// and eval(). pipeline() returns error replies in place (Reply::is_error()).
// A caller degrades on Error::unavailable().
//
// Lifecycle: construct → start() → calls → stop() → destroy. stop() is
// non-blocking and may be called from any thread: it refuses new calls and
// posts the shutdown of each thread's connections onto that thread's
// io_context (pending calls then fail with ConnectionError). The internal
// state is shared with the coroutines, so Shards may be destroyed while
// calls are still suspended; it MUST be destroyed before the io_contexts and
// the metrics Registry. Subscription callbacks run on io_per_thread[0] and
// may run until that io_context has processed stop() (or stopped running).
//
// Metrics (handles resolved in the constructor), label shard = index:
//   surge_redis_commands_total{shard}            commands sent (a pipeline
//                                                of n counts n)
//   surge_redis_errors_total{shard,kind}         errors seen by callers;
//                                                kind = error.hpp kind_name
//   surge_redis_command_duration_seconds{shard}  per call (command,
//                                                pipeline, eval), histogram
//   surge_redis_pool_connections{shard}          open pooled connections
//   surge_redis_in_flight{shard}                 calls awaiting their reply
//                                                (command, pipeline, eval)
//   surge_redis_circuit_open{shard}              1 while the breaker is open
//   surge_redis_pool_waits_total{shard}          calls that had to wait for
//                                                their connection to connect

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "metrics/registry.hpp"
#include "redis/command.hpp"
#include "redis/error.hpp"
#include "redis/reply.hpp"
#include "redis/script.hpp"

namespace surge::redis {

struct Settings {
  // "host:port" of each shard, in placement order: append to grow, never
  // reorder (placement is by position).
  std::vector<std::string> shards;
  std::size_t connections_per_thread = 1;
  std::chrono::milliseconds connect_timeout{1000};
  // Bounds each call's whole wait, connecting included.
  std::chrono::milliseconds command_timeout{1000};
  std::size_t breaker_failures = 5;
  std::chrono::milliseconds breaker_open_for{2000};
  std::chrono::milliseconds health_interval{500};
};

struct ShardState {
  enum class Status : unsigned char { kUp, kDown, kOpenCircuit };
  Status status = Status::kDown;
  std::string address;
  std::string last_error;  // empty if none since the last success
};

// "up", "down", "open_circuit".
std::string_view status_name(ShardState::Status status) noexcept;

namespace detail {
struct Core;
struct ThreadState;
}  // namespace detail

class Shards {
 public:
  // Validates the settings (std::invalid_argument: no shard, a malformed
  // address, no io_context, connections_per_thread == 0) and resolves the
  // metric handles. Connects nothing.
  Shards(Settings settings, std::vector<boost::asio::io_context*> io_per_thread,
         metrics::Registry& registry = metrics::Registry::global());
  ~Shards();
  Shards(const Shards&) = delete;
  Shards& operator=(const Shards&) = delete;
  Shards(Shards&&) = delete;
  Shards& operator=(Shards&&) = delete;

  // Starts the health checks and opens the pooled connections (posted onto
  // the io_contexts; any thread). Idempotent; no-op after stop().
  void start();
  // See Lifecycle above. Idempotent; any thread.
  void stop();

  std::size_t shard_count() const noexcept;
  // Stable placement; shard_for(42) == shard_for("42").
  std::size_t shard_for(std::uint64_t id) const noexcept;
  std::size_t shard_for(std::string_view id) const noexcept;
  const std::string& address(std::size_t shard) const;

  // One command; a top-level error reply throws ServerError.
  //   Reply r = co_await shards.command(s, {"GET", key});
  boost::asio::awaitable<Reply> command(std::size_t shard, Command command);

  // The commands in one write; replies in order, error replies in place.
  boost::asio::awaitable<std::vector<Reply>> pipeline(std::size_t shard,
                                                      std::vector<Command> commands);

  // EVALSHA; on NOSCRIPT, SCRIPT LOAD + EVALSHA in one round trip, once.
  // An error reply of the script throws ServerError.
  //   Reply r = co_await shards.eval(s, kGrab, {campaign_key, user_key}, {user_id, now_ms});
  // keys and args are encoded before eval() returns.
  boost::asio::awaitable<Reply> eval(std::size_t shard, const Script& script, const Args& keys = {},
                                     const Args& args = {});

  // PUBLISH on every shard whose breaker is closed, concurrently. Returns an
  // integer Reply: the receivers summed over the shards that answered.
  // Throws only if no shard answered (the last error, or CircuitOpenError).
  // Subscribers (every server subscribes on every shard) receive the
  // message once per shard that answered: handlers MUST be idempotent.
  boost::asio::awaitable<Reply> publish_all(std::string channel, std::string message);

  // Calls on_message on every I/O thread for each message published on
  // `channel` on any shard: each thread has its own subscriber connection
  // per shard. Why every thread: a cache invalidation published before a
  // write is answered reaches this process before the client's next request
  // does, and epoll reports ready sockets in the order they became ready, so
  // the thread that serves that request has applied the invalidation first.
  // With one subscribing thread, another thread could serve the request from
  // a stale L1 entry while the subscriber thread is not yet scheduled.
  // on_message MUST be thread-safe and idempotent (it runs once per thread
  // per shard that answered the PUBLISH). Connections are reconnected within
  // health_interval and re-subscribed after any disconnection (messages
  // published meanwhile are lost: pub/sub is at-most-once). Any thread,
  // before or after start(). on_message exceptions are caught and logged.
  void subscribe(const std::string& channel,
                 const std::function<void(std::string_view message)>& on_message);

  // For /readyz and logs; any thread.
  ShardState state(std::size_t shard) const;
  // False while the shard's breaker is open (calls would fail fast).
  bool available(std::size_t shard) const noexcept;

 private:
  std::shared_ptr<detail::Core> core_;
  std::vector<std::shared_ptr<detail::ThreadState>> threads_;
};

}  // namespace surge::redis
