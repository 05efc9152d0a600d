#pragma once

// The PostgreSQL access layer's entry point: one primary and N streaming
// replicas, a connection pool per node per I/O thread, read/write split with
// read-your-writes, health checks. Design notes: src/pg/README.md.
//
//   Cluster pg(settings, {&server.context(0), &server.context(1)}, registry);
//   pg.start();
//   // in a coroutine running on one of those io_contexts:
//   pg::Result r = co_await pg.read("SELECT name FROM users WHERE id = $1",
//                                   pg::params(id), pg.user_min_lsn(id));
//   pg::WriteResult w = co_await pg.transaction(
//       pg::Statement{"UPDATE products SET stock = stock - $2 WHERE id = $1 AND stock >= $2",
//                     pg::params(product_id, quantity)},
//       pg::Statement{"INSERT INTO orders (user_id, status, total_cents, source) "
//                     "VALUES ($1, 'created', $2, 'checkout') RETURNING id",
//                     pg::params(user_id, total)});
//   pg.note_write(user_id, w.lsn);
//
// GCC 12 rejects a braced list inside a co_await expression ("array used as
// initializer"): write `co_await pg.transaction(Statement{...}, ...)` or
// build the std::vector<Statement> first, not `co_await pg.transaction({...})`.
//
// Routing:
//   write(), transaction(), begin()  → the primary.
//   read(sql, params, min_lsn)       → a replica in rotation whose replayed
//                                      LSN (from its last health check) is
//                                      >= min_lsn, round-robin; otherwise the
//                                      primary. min_lsn = kPrimaryLsn forces
//                                      the primary. A read that fails on a
//                                      replica with a connection error is
//                                      retried once on the primary.
// Rotation: a replica leaves when its health check fails, when it is not in
// recovery (promoted / misconfigured) or when it lags more than
// max_replica_lag behind the primary; it returns at the first healthy check.
// Lag is time: how long ago the primary was at the LSN the replica has
// replayed (primary LSN samples are kept for that); a replica that has
// replayed all the primary had is never lagging, however idle. While the
// primary is unreachable lag cannot be measured and replicas stay in.
//
// Threads: pools are per io_context. A call made from a coroutine running
// on one of the given io_contexts uses that thread's pools, with no thread
// hop. A call from any other thread is run on one of the io_contexts
// (co_spawn) and its result delivered back: correct, slower.
//
// Errors: every operation throws pg::Error (see error.hpp): the server's
// error, kConnection (node unreachable, or the cluster is stopped),
// kQueryCanceled (query_timeout passed: the query is cancelled on the
// server; or no pooled connection freed up in time). query_timeout bounds
// each call, pool wait included (a fresh connect may add connect_timeout).
//
// Lifecycle: construct → start() → use → stop() → destroy.
//   start(): launches the health checks on the first io_context (they run
//     when it runs). Call once.
//   stop(): any thread, idempotent, non-blocking: new calls throw
//     Error{kConnection}; health checks end; idle connections close as soon
//     as their io_context runs (leased ones when they come back).
//   ~Cluster: MUST run while none of its io_contexts is running (after
//     their threads stopped, as `surge serve` does after Server::wait(), or
//     before they ever ran). It stops every pool and closes every idle
//     connection synchronously. Work still suspended on an io_context is
//     destroyed with that io_context, which MUST therefore outlive the
//     Cluster; the metrics::Registry MUST outlive the io_contexts.

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "metrics/registry.hpp"
#include "pg/error.hpp"
#include "pg/lsn.hpp"
#include "pg/params.hpp"
#include "pg/result.hpp"

namespace surge::pg {

struct Settings {
  // libpq URI or key=value string. May list several hosts with
  // target_session_attrs=read-write, so that a promoted standby is followed:
  // postgresql://h1:5432,h2:5432/surge?target_session_attrs=read-write
  std::string primary;
  std::vector<std::string> replicas;
  // Per node, per I/O thread.
  std::size_t connections_per_thread = 2;
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds query_timeout{5000};
  std::chrono::milliseconds max_replica_lag{2000};
  std::chrono::milliseconds health_interval{250};
  std::chrono::milliseconds read_your_writes_window{5000};
};

enum class Health : std::uint8_t { kUp, kDown, kLagging };
// "up", "down", "lagging".
std::string_view to_string(Health health) noexcept;

// One node as last seen by the health checks (for /readyz).
struct NodeState {
  std::string name;     // "primary", "replica-0", ...
  std::string address;  // host:port in use, or the configured hosts while down
  Health health = Health::kDown;
  bool in_rotation = false;  // replicas: serving reads now; primary: == up
  std::int64_t lag_ms = -1;  // replicas: -1 = unknown; primary: 0
  Lsn lsn = 0;               // primary: current WAL LSN; replica: replayed LSN
  std::string error;         // why it is down / lagging; "" when up
};

struct WriteResult {
  std::vector<Result> results;  // one per statement
  Lsn lsn = 0;                  // WAL insert position after the commit
};

class Cluster;

// An interactive transaction on the primary (multi-step logic that needs a
// result before deciding the next statement). BEGIN is sent with the first
// statement, COMMIT with the LSN query: no extra round trips.
//
// An error in execute() or commit() rolls the transaction back before it is
// thrown; the Transaction is then finished. A Transaction destroyed while
// open is rolled back in the background. Move-only; a moved-from or
// finished one throws std::logic_error on use. Not for concurrent use; best
// used on the thread that began it (elsewhere every call hops threads).
class Transaction {
 public:
  Transaction() = default;  // inactive
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&& other) noexcept;
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  boost::asio::awaitable<Result> execute(std::string sql, Params params = {});
  // Returns the commit's LSN (0 when nothing was executed).
  boost::asio::awaitable<Lsn> commit();
  boost::asio::awaitable<void> rollback();
  bool active() const noexcept;

  // Internal: made by Cluster::begin().
  struct State;
  explicit Transaction(std::shared_ptr<State> state) noexcept;

 private:
  std::shared_ptr<State> state_;
};

class Cluster {
 public:
  // Throws std::invalid_argument on unusable settings (no primary, no
  // io_context, zero connections).
  Cluster(Settings settings, std::vector<boost::asio::io_context*> io_per_thread,
          metrics::Registry& registry = metrics::Registry::global());
  ~Cluster();  // NOLINT(bugprone-exception-escape): see cluster.cpp
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  void start();
  void stop();

  // See the routing rules above. min_lsn: the caller's read-your-writes
  // need, usually user_min_lsn(user_id).
  boost::asio::awaitable<Result> read(std::string sql, Params params, Lsn min_lsn = 0);
  // One statement on the primary (its own implicit transaction).
  boost::asio::awaitable<Result> write(std::string sql, Params params);
  // BEGIN; statements...; COMMIT; then the WAL position — one round trip.
  // On an error the transaction is rolled back and the statement's
  // pg::Error thrown.
  boost::asio::awaitable<WriteResult> transaction(std::vector<Statement> statements);
  // The same for statements listed inline (see the GCC 12 note above).
  template <typename... S>
  requires(sizeof...(S) > 0 &&
           (std::convertible_to<S, Statement> &&
            ...)) boost::asio::awaitable<WriteResult> transaction(S&&... statements) {
    std::vector<Statement> list;
    list.reserve(sizeof...(S));
    (list.emplace_back(std::forward<S>(statements)), ...);
    return transaction(std::move(list));
  }
  // An interactive transaction holding one primary connection until it
  // finishes.
  boost::asio::awaitable<Transaction> begin();

  // Read-your-writes markers (local to this process; see markers.hpp):
  // after a write by `user_id` that committed at `lsn` (0 = unknown → the
  // primary), user_min_lsn(user_id) returns it for read_your_writes_window.
  void note_write(std::uint64_t user_id, Lsn lsn);
  Lsn user_min_lsn(std::uint64_t user_id) const;

  NodeState primary_state() const;
  std::vector<NodeState> replica_states() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace surge::pg
