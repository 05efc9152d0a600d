#include "pg/cluster.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <libpq-fe.h>

#include "log/log.hpp"
#include "pg/connection.hpp"
#include "pg/markers.hpp"
#include "pg/pool.hpp"

namespace surge::pg {

namespace asio = boost::asio;
using asio::awaitable;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kNotOurs = static_cast<std::size_t>(-1);

enum class Kind : std::uint8_t { kRead, kWrite, kTransaction };
constexpr std::array<std::string_view, 3> kKindNames{"read", "write", "transaction"};

// The WAL insert position, read after COMMIT in the same round trip. Insert
// (not write/flush) position: it is past the commit record even with
// synchronous_commit = off, so a replica that replayed up to it has the
// write.
const std::string kLsnSql = "SELECT pg_current_wal_insert_lsn()::text";
const std::string kBeginSql = "BEGIN";
const std::string kCommitSql = "COMMIT";
const std::string kRollbackSql = "ROLLBACK";
const std::string kPrimaryCheckSql = "SELECT pg_current_wal_lsn()::text";
const std::string kReplicaCheckSql =
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
    "COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)::float8";
const Params kNoParams;

// "host:port,host:port" of a conninfo, without user or password.
std::string configured_address(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    PQfreemem(err);
    return "(unparsable conninfo)";
  }
  std::string host = "localhost";
  std::string port = "5432";
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') {
      continue;
    }
    const std::string_view key(o->keyword);
    // hostaddr names the node only when no host does.
    if (key == "host" || (key == "hostaddr" && host == "localhost")) {
      host = o->val;
    } else if (key == "port") {
      port = o->val;
    }
  }
  PQconninfoFree(opts);
  // Pair the comma-separated lists; one port applies to every host.
  std::vector<std::string_view> hosts;
  std::vector<std::string_view> ports;
  auto split = [](std::string_view s, std::vector<std::string_view>& out) {
    std::size_t start = 0;
    for (;;) {
      const auto comma = s.find(',', start);
      out.push_back(s.substr(start, comma - start));
      if (comma == std::string_view::npos) {
        break;
      }
      start = comma + 1;
    }
  };
  split(host, hosts);
  split(port, ports);
  std::string out;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    const std::string_view p = ports.size() == hosts.size() ? ports[i] : ports.front();
    out += fmt::format("{}:{}", hosts[i], p);
  }
  return out;
}

}  // namespace

std::string_view to_string(Health health) noexcept {
  switch (health) {
    case Health::kUp:
      return "up";
    case Health::kDown:
      return "down";
    case Health::kLagging:
      return "lagging";
  }
  return "down";
}

// ===========================================================================
// Node: shared by every thread (atomics; strings under a mutex)
// ===========================================================================

struct Node {
  Node(std::string name_, std::string conninfo_, bool primary_)
      : name(std::move(name_)),
        conninfo(std::move(conninfo_)),
        configured(configured_address(conninfo)),
        is_primary(primary_) {}

  const std::string name;
  const std::string conninfo;
  const std::string configured;
  const bool is_primary;

  std::atomic<Health> health{Health::kDown};
  std::atomic<bool> in_rotation{false};
  std::atomic<std::int64_t> lag_ms{-1};
  std::atomic<Lsn> lsn{0};
  // Bumped when the node is found down: connections made before are stale
  // (a restarted server), and the pools drop them instead of failing a
  // request on each.
  std::atomic<std::uint64_t> epoch{0};

  mutable std::mutex mu;
  std::string address;  // guarded by mu
  std::string error;    // guarded by mu

  std::array<metrics::Counter, 3> queries;
  std::array<metrics::Counter, Error::kClassCount> errors;
  metrics::Histogram duration;
  metrics::Gauge up;
  PoolMetrics pool;

  // Returns the previous health.
  Health set(Health h, std::string why, std::string addr = {}) {
    {
      const std::lock_guard lock(mu);
      error = std::move(why);
      if (!addr.empty()) {
        address = std::move(addr);
      }
    }
    in_rotation.store(h == Health::kUp, std::memory_order_release);
    up.set(h == Health::kDown ? 0 : 1);
    const Health before = health.exchange(h);
    if (h == Health::kDown && before != Health::kDown) {
      epoch.fetch_add(1);
    }
    return before;
  }

  NodeState state() const {
    NodeState s;
    s.name = name;
    s.health = health.load();
    s.in_rotation = in_rotation.load();
    s.lag_ms = is_primary ? 0 : lag_ms.load();
    s.lsn = lsn.load();
    const std::lock_guard lock(mu);
    s.address = address.empty() ? configured : address;
    s.error = error;
    return s;
  }
};

// ===========================================================================
// Shared state
// ===========================================================================

struct Cluster::Impl : std::enable_shared_from_this<Cluster::Impl> {
  Impl(Settings s, std::vector<asio::io_context*> io, metrics::Registry& registry);

  struct Thread {
    std::vector<std::shared_ptr<Pool>> pools;  // [0] primary, [1 + i] replica i
    std::size_t round_robin = 0;
  };

  Settings settings;
  std::vector<asio::io_context*> ios;
  std::vector<std::shared_ptr<Node>> nodes;  // [0] primary
  std::vector<Thread> threads;               // threads[i] touched only on ios[i]
  WriteMarkers markers;
  std::atomic<bool> stopping{false};
  std::atomic<bool> started{false};
  std::atomic<std::size_t> foreign_round_robin{0};

  // Health checks: everything below is touched only on ios[0].
  std::vector<asio::steady_timer*> health_timers;
  std::deque<std::pair<Clock::time_point, Lsn>> primary_history;

  Node& primary() { return *nodes.front(); }
  milliseconds check_timeout() const {
    return std::min(settings.query_timeout,
                    std::max(settings.health_interval * 4, milliseconds(1000)));
  }

  // The index of the io_context this thread is running, or kNotOurs.
  std::size_t current_thread() const {
    for (std::size_t i = 0; i < ios.size(); ++i) {
      if (ios[i]->get_executor().running_in_this_thread()) {
        return i;
      }
    }
    return kNotOurs;
  }
  std::size_t pick_foreign() { return foreign_round_robin.fetch_add(1) % ios.size(); }

  void check_open() const {
    if (stopping.load(std::memory_order_relaxed)) {
      throw Error(Error::Class::kConnection, std::string(), "pg: the cluster is stopped");
    }
  }

  // The index of a replica in rotation that has replayed min_lsn,
  // round-robin; 0 (the primary) when there is none.
  std::size_t pick_replica(std::size_t thread, Lsn min_lsn) {
    const std::size_t n = nodes.size() - 1;
    if (n == 0 || min_lsn == kPrimaryLsn) {
      return 0;
    }
    std::size_t& rr = threads[thread].round_robin;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = 1 + (rr + k) % n;
      const Node& node = *nodes[i];
      if (node.in_rotation.load(std::memory_order_acquire) && node.lsn.load() >= min_lsn) {
        rr = (rr + k + 1) % n;
        return i;
      }
    }
    return 0;
  }

  void count_error(Node& node, const Error& e) const {
    node.errors[static_cast<std::size_t>(e.error_class())].add();
    if (stopping.load(std::memory_order_relaxed)) {
      return;  // "the cluster is stopped" says nothing about the node
    }
    if (e.error_class() == Error::Class::kReadOnly && node.is_primary) {
      // The "primary" is a standby now (failover): reconnect, so that a
      // multi-host conninfo with target_session_attrs=read-write finds the
      // new one.
      node.epoch.fetch_add(1);
    }
    if (e.error_class() == Error::Class::kConnection) {
      // Stale connections to a restarted node: drop them all now.
      node.epoch.fetch_add(1);
      if (!node.is_primary) {
        const Health before = node.set(Health::kDown, e.what());
        if (before == Health::kUp) {
          log::warn("pg replica left the rotation", {{"node", node.name}, {"reason", e.what()}});
        }
      }
    }
  }

  awaitable<Lease> acquire(std::size_t thread, std::size_t node, Clock::time_point deadline);
  awaitable<Result> run_one(std::size_t thread, std::size_t node, Kind kind, const std::string& sql,
                            const Params& params);
  awaitable<Result> read_here(std::size_t thread, std::string sql, Params params, Lsn min_lsn);
  awaitable<WriteResult> transaction_here(std::size_t thread, std::vector<Statement> statements);

  // Health.
  void on_primary_sample(Lsn lsn, std::string address, Clock::time_point now);
  void on_replica_sample(Node& node, bool in_recovery, Lsn replay, double replay_age_s,
                         std::string address, Clock::time_point now);
  static void on_check_failed(Node& node, const std::string& why);
};

Cluster::Impl::Impl(Settings s, std::vector<asio::io_context*> io, metrics::Registry& registry)
    : settings(std::move(s)), ios(std::move(io)), markers(settings.read_your_writes_window) {
  if (settings.primary.empty()) {
    throw std::invalid_argument("pg: no primary configured");
  }
  if (ios.empty() || std::find(ios.begin(), ios.end(), nullptr) != ios.end()) {
    throw std::invalid_argument("pg: the cluster needs at least one io_context");
  }
  if (settings.connections_per_thread == 0) {
    throw std::invalid_argument("pg: connections_per_thread must be at least 1");
  }
  if (settings.connect_timeout <= milliseconds(0) || settings.query_timeout <= milliseconds(0) ||
      settings.health_interval <= milliseconds(0) || settings.max_replica_lag < milliseconds(0) ||
      settings.read_your_writes_window < milliseconds(0)) {
    throw std::invalid_argument("pg: timeouts and intervals must be positive");
  }
  nodes.push_back(std::make_shared<Node>("primary", settings.primary, true));
  for (std::size_t i = 0; i < settings.replicas.size(); ++i) {
    nodes.push_back(
        std::make_shared<Node>(fmt::format("replica-{}", i), settings.replicas[i], false));
  }
  for (const auto& node : nodes) {
    const metrics::Labels by_node{{"node", node->name}};
    for (std::size_t k = 0; k < kKindNames.size(); ++k) {
      node->queries[k] =
          registry.counter("surge_pg_queries_total", "Queries run, by node and kind.",
                           {{"node", node->name}, {"kind", std::string(kKindNames[k])}});
    }
    for (std::size_t c = 0; c < Error::kClassCount; ++c) {
      node->errors[c] = registry.counter(
          "surge_pg_errors_total", "Query errors, by node and SQLSTATE class.",
          {{"node", node->name}, {"class", std::string(class_name(static_cast<Error::Class>(c)))}},
          metrics::Visibility::kOnceNonZero);
    }
    node->duration = registry.histogram("surge_pg_query_duration_seconds",
                                        "Query latency including the pool wait.", by_node);
    node->pool.in_use =
        registry.gauge("surge_pg_pool_in_use", "Pooled connections leased now.", by_node);
    // What in_use is measured against: each I/O thread's pool is bounded.
    registry
        .gauge("surge_pg_pool_size", "Most pooled connections the node may hold (all threads).",
               by_node)
        .set(static_cast<std::int64_t>(settings.connections_per_thread * ios.size()));
    node->pool.waits = registry.counter("surge_pg_pool_waits_total",
                                        "Acquires that waited for a pooled connection.", by_node);
    node->up =
        registry.gauge("surge_pg_node_up", "1 while the node answers health checks.", by_node);
    if (!node->is_primary) {
      try {
        registry.gauge_callback("surge_pg_replica_lag_seconds",
                                "Replica replay lag behind the primary (NaN: unknown).",
                                {{"replica", node->name}}, [n = std::shared_ptr<const Node>(node)] {
                                  const std::int64_t ms = n->lag_ms.load(std::memory_order_relaxed);
                                  return ms < 0 ? std::numeric_limits<double>::quiet_NaN()
                                                : static_cast<double>(ms) / 1000.0;
                                });
      } catch (const std::invalid_argument&) {
        // A second Cluster on the same registry: the first one's gauge stays.
        log::warn("pg: replica lag gauge already registered", {{"replica", node->name}});
      }
    }
  }
  threads.resize(ios.size());
  for (std::size_t t = 0; t < ios.size(); ++t) {
    for (const auto& node : nodes) {
      threads[t].pools.push_back(std::make_shared<Pool>(
          *ios[t], node->conninfo, node->name, settings.connections_per_thread,
          settings.connect_timeout, node->pool, &node->epoch));
    }
  }
}

// ===========================================================================
// Queries (each runs on the io_context of `thread`)
// ===========================================================================

awaitable<Lease> Cluster::Impl::acquire(std::size_t thread, std::size_t node,
                                        Clock::time_point deadline) {
  check_open();
  co_return co_await threads[thread].pools[node]->acquire(deadline);
}

awaitable<Result> Cluster::Impl::run_one(std::size_t thread, std::size_t node_index, Kind kind,
                                         const std::string& sql, const Params& params) {
  Node& node = *nodes[node_index];
  const auto start = Clock::now();
  const auto deadline = start + settings.query_timeout;
  node.queries[static_cast<std::size_t>(kind)].add();
  std::optional<Error> failed;
  Result result;
  try {
    Lease lease = co_await acquire(thread, node_index, deadline);
    result = co_await lease->execute(sql, params, deadline);
  } catch (const Error& e) {
    failed = e;
  }
  node.duration.observe(std::chrono::duration<double>(Clock::now() - start).count());
  if (failed) {
    count_error(node, *failed);
    throw std::move(*failed);
  }
  co_return result;
}

awaitable<Result> Cluster::Impl::read_here(std::size_t thread, std::string sql, Params params,
                                           Lsn min_lsn) {
  const std::size_t node = pick_replica(thread, min_lsn);
  if (node == 0) {
    co_return co_await run_one(thread, 0, Kind::kRead, sql, params);
  }
  try {
    co_return co_await run_one(thread, node, Kind::kRead, sql, params);
  } catch (const Error& e) {
    if (e.error_class() != Error::Class::kConnection || stopping.load()) {
      throw;
    }
    // The replica is out of the rotation now (count_error): the primary.
  }
  co_return co_await run_one(thread, 0, Kind::kRead, sql, params);
}

awaitable<WriteResult> Cluster::Impl::transaction_here(std::size_t thread,
                                                       std::vector<Statement> statements) {
  Node& node = primary();
  const auto start = Clock::now();
  const auto deadline = start + settings.query_timeout;
  node.queries[static_cast<std::size_t>(Kind::kTransaction)].add();
  const std::size_t n = statements.size();
  // BEGIN, s1..sn, COMMIT | sync | LSN | sync
  std::vector<Statement> batch;
  batch.reserve(n + 3);
  batch.push_back({kBeginSql, {}});
  for (auto& s : statements) {
    batch.push_back(std::move(s));
  }
  batch.push_back({kCommitSql, {}});
  batch.push_back({kLsnSql, {}});
  const std::array<std::size_t, 1> sync_after{n + 1};
  std::optional<Error> failed;
  WriteResult out;
  Lease lease;
  try {
    lease = co_await acquire(thread, 0, deadline);
    PipelineOutcome r = co_await lease->pipeline(batch, sync_after, deadline);
    if (r.error) {
      failed = std::move(r.error);
    } else {
      out.results.reserve(n);
      for (std::size_t i = 1; i <= n; ++i) {
        out.results.push_back(std::move(r.results[i]));
      }
      const Result& lsn = r.results[n + 2];
      if (lsn.rows() == 1) {
        out.lsn = parse_lsn(lsn.text(0, 0)).value_or(0);
      }
    }
  } catch (const Error& e) {
    failed = e;
  }
  if (failed && lease && lease->in_transaction()) {
    try {
      co_await lease->execute(kRollbackSql, kNoParams, Clock::now() + settings.query_timeout);
    } catch (const Error&) {  // the connection closed on the failure: nothing left to undo
    }
  }
  lease.reset();
  node.duration.observe(std::chrono::duration<double>(Clock::now() - start).count());
  if (failed) {
    count_error(node, *failed);
    throw std::move(*failed);
  }
  co_return out;
}

// Entry points: on one of our threads run here, else hop to one.
namespace {

awaitable<Result> read_entry(std::shared_ptr<Cluster::Impl> impl, std::string sql, Params params,
                             Lsn min_lsn) {
  impl->check_open();
  const std::size_t t = impl->current_thread();
  if (t != kNotOurs) {
    co_return co_await impl->read_here(t, std::move(sql), std::move(params), min_lsn);
  }
  const std::size_t f = impl->pick_foreign();
  co_return co_await asio::co_spawn(*impl->ios[f],
                                    read_entry(impl, std::move(sql), std::move(params), min_lsn),
                                    asio::use_awaitable);
}

awaitable<Result> write_entry(std::shared_ptr<Cluster::Impl> impl, std::string sql, Params params) {
  impl->check_open();
  const std::size_t t = impl->current_thread();
  if (t != kNotOurs) {
    co_return co_await impl->run_one(t, 0, Kind::kWrite, sql, params);
  }
  const std::size_t f = impl->pick_foreign();
  co_return co_await asio::co_spawn(
      *impl->ios[f], write_entry(impl, std::move(sql), std::move(params)), asio::use_awaitable);
}

awaitable<WriteResult> transaction_entry(std::shared_ptr<Cluster::Impl> impl,
                                         std::vector<Statement> statements) {
  impl->check_open();
  const std::size_t t = impl->current_thread();
  if (t != kNotOurs) {
    co_return co_await impl->transaction_here(t, std::move(statements));
  }
  const std::size_t f = impl->pick_foreign();
  co_return co_await asio::co_spawn(*impl->ios[f], transaction_entry(impl, std::move(statements)),
                                    asio::use_awaitable);
}

}  // namespace

// ===========================================================================
// Interactive transactions
// ===========================================================================

struct Transaction::State {
  std::shared_ptr<Cluster::Impl> impl;
  std::size_t thread = 0;
  Lease lease;
  bool begun = false;
  bool done = false;
  Clock::time_point started{};
};

namespace {

bool on_thread_of(const Transaction::State& s) {
  return s.impl->ios[s.thread]->get_executor().running_in_this_thread();
}

void finish(Transaction::State& s) {
  s.done = true;
  s.lease.reset();
  Node& node = s.impl->primary();
  node.duration.observe(std::chrono::duration<double>(Clock::now() - s.started).count());
}

void require_active(const std::shared_ptr<Transaction::State>& s) {
  if (!s || s->done) {
    throw std::logic_error("pg: the transaction is finished");
  }
}

// After a statement error: roll back (if the server still has the
// transaction open), release the connection, count, throw.
awaitable<void> fail_transaction(std::shared_ptr<Transaction::State> s, Error error) {
  Node& node = s->impl->primary();
  if (s->lease && s->lease->in_transaction()) {
    try {
      co_await s->lease->execute(kRollbackSql, kNoParams,
                                 Clock::now() + s->impl->settings.query_timeout);
    } catch (const Error&) {  // the connection is closed by the failure: nothing to undo
    }
  }
  finish(*s);
  s->impl->count_error(node, error);
  throw std::move(error);
}

awaitable<Transaction> begin_entry(std::shared_ptr<Cluster::Impl> impl) {
  impl->check_open();
  std::size_t t = impl->current_thread();
  if (t == kNotOurs) {
    t = impl->pick_foreign();
    co_return co_await asio::co_spawn(*impl->ios[t], begin_entry(impl), asio::use_awaitable);
  }
  auto state = std::make_shared<Transaction::State>();
  state->impl = impl;
  state->thread = t;
  state->started = Clock::now();
  Node& node = impl->primary();
  node.queries[static_cast<std::size_t>(Kind::kTransaction)].add();
  std::optional<Error> failed;
  try {
    state->lease = co_await impl->acquire(t, 0, state->started + impl->settings.query_timeout);
  } catch (const Error& e) {
    failed = e;
  }
  if (failed) {
    impl->count_error(node, *failed);
    throw std::move(*failed);
  }
  co_return Transaction(std::move(state));
}

awaitable<Result> tx_execute(std::shared_ptr<Transaction::State> s, std::string sql,
                             Params params) {
  require_active(s);
  if (!on_thread_of(*s)) {
    co_return co_await asio::co_spawn(*s->impl->ios[s->thread],
                                      tx_execute(s, std::move(sql), std::move(params)),
                                      asio::use_awaitable);
  }
  const auto deadline = Clock::now() + s->impl->settings.query_timeout;
  std::optional<Error> failed;
  Result result;
  try {
    if (!s->begun) {
      // BEGIN rides with the first statement.
      const std::array<Statement, 2> batch{Statement{kBeginSql, {}},
                                           Statement{std::move(sql), std::move(params)}};
      s->begun = true;
      PipelineOutcome r = co_await s->lease->pipeline(batch, {}, deadline);
      if (r.error) {
        failed = std::move(r.error);
      } else {
        result = std::move(r.results[1]);
      }
    } else {
      result = co_await s->lease->execute(sql, params, deadline);
    }
  } catch (const Error& e) {
    failed = e;
  }
  if (failed) {
    co_await fail_transaction(s, std::move(*failed));
  }
  co_return result;
}

awaitable<Lsn> tx_commit(std::shared_ptr<Transaction::State> s) {
  require_active(s);
  if (!on_thread_of(*s)) {
    co_return co_await asio::co_spawn(*s->impl->ios[s->thread], tx_commit(s), asio::use_awaitable);
  }
  if (!s->begun) {
    finish(*s);
    co_return 0;
  }
  const auto deadline = Clock::now() + s->impl->settings.query_timeout;
  const std::array<Statement, 2> batch{Statement{kCommitSql, {}}, Statement{kLsnSql, {}}};
  const std::array<std::size_t, 1> sync_after{0};
  std::optional<Error> failed;
  Lsn lsn = 0;
  try {
    PipelineOutcome r = co_await s->lease->pipeline(batch, sync_after, deadline);
    if (r.error) {
      failed = std::move(r.error);
    } else if (r.results[1].rows() == 1) {
      lsn = parse_lsn(r.results[1].text(0, 0)).value_or(0);
    }
  } catch (const Error& e) {
    failed = e;
  }
  if (failed) {
    co_await fail_transaction(s, std::move(*failed));
  }
  finish(*s);
  co_return lsn;
}

awaitable<void> tx_rollback(std::shared_ptr<Transaction::State> s) {
  if (!s || s->done) {
    co_return;  // rolling back a finished transaction is a no-op
  }
  if (!on_thread_of(*s)) {
    co_return co_await asio::co_spawn(*s->impl->ios[s->thread], tx_rollback(s),
                                      asio::use_awaitable);
  }
  if (s->begun && s->lease && s->lease->in_transaction()) {
    try {
      co_await s->lease->execute(kRollbackSql, kNoParams,
                                 Clock::now() + s->impl->settings.query_timeout);
    } catch (const Error&) {  // a failed ROLLBACK leaves the connection closed: nothing to undo
    }
  }
  finish(*s);
}

// A Transaction dropped while open: roll it back on its own thread.
awaitable<void> abandon(std::shared_ptr<Transaction::State> s) {
  co_await tx_rollback(std::move(s));
}

}  // namespace

Transaction::Transaction(std::shared_ptr<State> state) noexcept : state_(std::move(state)) {}
Transaction::Transaction(Transaction&&) noexcept = default;

Transaction& Transaction::operator=(Transaction&& other) noexcept {
  if (this != &other) {
    Transaction dropped(std::move(*this));
    state_ = std::move(other.state_);
  }
  return *this;
}

Transaction::~Transaction() {
  if (!state_ || state_->done) {
    return;
  }
  try {
    asio::io_context& io = *state_->impl->ios[state_->thread];  // before state_ moves
    asio::co_spawn(io, abandon(std::move(state_)), asio::detached);
  } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory; the lease closes with the state
  }
}

awaitable<Result> Transaction::execute(std::string sql, Params params) {
  return tx_execute(state_, std::move(sql), std::move(params));
}
awaitable<Lsn> Transaction::commit() {
  return tx_commit(state_);
}
awaitable<void> Transaction::rollback() {
  return tx_rollback(state_);
}
bool Transaction::active() const noexcept {
  return state_ && !state_->done;
}

// ===========================================================================
// Health checks (all on ios[0])
// ===========================================================================

void Cluster::Impl::on_primary_sample(Lsn lsn, std::string address, Clock::time_point now) {
  Node& node = primary();
  node.lsn.store(lsn);
  primary_history.emplace_back(now, lsn);
  const auto keep =
      settings.max_replica_lag * 2 + settings.health_interval * 8 + milliseconds(5000);
  while (primary_history.size() > 2 && now - primary_history.front().first > keep) {
    primary_history.pop_front();
  }
  const Health before = node.set(Health::kUp, {}, std::move(address));
  if (before != Health::kUp) {
    log::info("pg primary is up", {{"node", node.name}, {"lsn", format_lsn(lsn)}});
  }
}

void Cluster::Impl::on_replica_sample(Node& node, bool in_recovery, Lsn replay, double replay_age_s,
                                      std::string address, Clock::time_point now) {
  node.lsn.store(replay);
  if (!in_recovery) {
    const Health before =
        node.set(Health::kDown, "not a standby: pg_is_in_recovery() is false", std::move(address));
    if (before != Health::kDown) {
      log::warn("pg replica left the rotation",
                {{"node", node.name}, {"reason", "not in recovery"}});
    }
    return;
  }
  // Lag in time: how long ago the primary was where this replica is now.
  std::int64_t lag = -1;
  const auto fresh = settings.health_interval * 3 + check_timeout();
  const bool primary_known = !primary_history.empty() &&
                             now - primary_history.back().first <= fresh &&
                             primary().health.load() == Health::kUp;
  if (primary_known) {
    if (replay >= primary_history.back().second) {
      lag = 0;
    } else {
      auto since = primary_history.front().first;  // older than all we know
      // Newest first.
      // NOLINTNEXTLINE(modernize-loop-convert)
      for (auto it = primary_history.rbegin(); it != primary_history.rend(); ++it) {
        if (it->second <= replay) {
          since = it->first;
          break;
        }
      }
      lag = duration_cast<milliseconds>(now - since).count();
    }
  } else {
    // Informational only: without the primary there is nothing to compare,
    // and a stale replica beats no reads at all.
    lag = static_cast<std::int64_t>(replay_age_s * 1000.0);
  }
  node.lag_ms.store(lag);
  const bool lagging = primary_known && lag > settings.max_replica_lag.count();
  const Health h = lagging ? Health::kLagging : Health::kUp;
  const Health before =
      node.set(h, lagging ? fmt::format("replay {} ms behind the primary", lag) : std::string(),
               std::move(address));
  if (before != h) {
    if (h == Health::kUp) {
      log::info("pg replica joined the rotation", {{"node", node.name}, {"lag_ms", lag}});
    } else {
      log::warn("pg replica left the rotation",
                {{"node", node.name}, {"reason", "lagging"}, {"lag_ms", lag}});
    }
  }
}

void Cluster::Impl::on_check_failed(Node& node, const std::string& why) {
  const Health before = node.set(Health::kDown, why);
  if (before != Health::kDown) {
    log::warn(node.is_primary ? "pg primary is down" : "pg replica left the rotation",
              {{"node", node.name}, {"reason", why}});
  }
}

namespace {

// Unregisters a health timer when its loop ends.
// An aggregate scope guard (a user-declared copy would make it a non-aggregate).
struct TimerRegistration {  // NOLINT(cppcoreguidelines-special-member-functions)
  std::vector<asio::steady_timer*>& timers;
  asio::steady_timer* timer;
  ~TimerRegistration() { std::erase(timers, timer); }
};

awaitable<void> health_loop(std::shared_ptr<Cluster::Impl> impl, std::size_t index) {
  asio::io_context& io = *impl->ios.front();
  Node& node = *impl->nodes[index];
  asio::steady_timer timer(io);
  impl->health_timers.push_back(&timer);
  const TimerRegistration registration{impl->health_timers, &timer};
  std::unique_ptr<Connection> conn;
  while (!impl->stopping.load()) {
    const auto started = Clock::now();
    std::optional<std::string> failure;
    try {
      if (!conn || !conn->usable()) {
        conn = std::make_unique<Connection>(io, node.conninfo, node.name + "/health");
        co_await conn->connect(started + impl->settings.connect_timeout);
      }
      const auto deadline = Clock::now() + impl->check_timeout();
      if (node.is_primary) {
        const Result r = co_await conn->execute(kPrimaryCheckSql, kNoParams, deadline);
        const auto lsn = parse_lsn(r.text(0, 0));
        if (!lsn) {
          throw Error(Error::Class::kOther, std::string(), "unparsable pg_current_wal_lsn()");
        }
        impl->on_primary_sample(*lsn, conn->server_address(), Clock::now());
      } else {
        const Result r = co_await conn->execute(kReplicaCheckSql, kNoParams, deadline);
        const bool recovery = r.get<bool>(0, 0);
        const Lsn replay = r.is_null(0, 1) ? 0 : parse_lsn(r.text(0, 1)).value_or(0);
        impl->on_replica_sample(node, recovery, replay, r.get<double>(0, 2), conn->server_address(),
                                Clock::now());
      }
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (failure) {
      conn.reset();
      if (!impl->stopping.load()) {
        Cluster::Impl::on_check_failed(node, *failure);
      }
    }
    if (impl->stopping.load()) {
      break;
    }
    timer.expires_at(started + impl->settings.health_interval);
    co_await timer.async_wait(kTuple);
  }
}

}  // namespace

// ===========================================================================
// Cluster
// ===========================================================================

namespace {

void stop_on_thread(const std::shared_ptr<Cluster::Impl>& impl, std::size_t t) {
  for (const auto& pool : impl->threads[t].pools) {
    pool->stop();
  }
  if (t == 0) {
    for (asio::steady_timer* timer : impl->health_timers) {
      timer->cancel();
    }
  }
}

}  // namespace

Cluster::Cluster(Settings settings, std::vector<asio::io_context*> io_per_thread,
                 metrics::Registry& registry)
    : impl_(std::make_shared<Impl>(std::move(settings), std::move(io_per_thread), registry)) {}

// The io_contexts are not running (the contract), so every pool can be
// stopped right here. Suspended work (health loops, queries in flight) may
// still hold the shared state until its io_context is destroyed; what they
// can reach then must not depend on another io_context that may already be
// gone — hence every pool is emptied and closed now, and a connection that
// comes back later (from a frame destroyed with its io_context) is closed,
// not pooled.
Cluster::~Cluster() {  // NOLINT(bugprone-exception-escape): closing sockets, nothing to recover
  if (!impl_) {
    return;
  }
  impl_->stopping.store(true);
  for (std::size_t t = 0; t < impl_->ios.size(); ++t) {
    stop_on_thread(impl_, t);
  }
}

void Cluster::start() {
  if (impl_->started.exchange(true)) {
    return;
  }
  for (std::size_t i = 0; i < impl_->nodes.size(); ++i) {
    asio::co_spawn(*impl_->ios.front(), health_loop(impl_, i), asio::detached);
  }
}

void Cluster::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) {
    return;
  }
  for (std::size_t t = 0; t < impl_->ios.size(); ++t) {
    asio::post(*impl_->ios[t], [impl = impl_, t] { stop_on_thread(impl, t); });
  }
}

awaitable<Result> Cluster::read(std::string sql, Params params, Lsn min_lsn) {
  return read_entry(impl_, std::move(sql), std::move(params), min_lsn);
}

awaitable<Result> Cluster::write(std::string sql, Params params) {
  return write_entry(impl_, std::move(sql), std::move(params));
}

awaitable<WriteResult> Cluster::transaction(std::vector<Statement> statements) {
  return transaction_entry(impl_, std::move(statements));
}

awaitable<Transaction> Cluster::begin() {
  return begin_entry(impl_);
}

void Cluster::note_write(std::uint64_t user_id, Lsn lsn) {
  impl_->markers.note(user_id, lsn, Clock::now());
}

Lsn Cluster::user_min_lsn(std::uint64_t user_id) const {
  return impl_->markers.min_lsn(user_id, Clock::now());
}

NodeState Cluster::primary_state() const {
  return impl_->nodes.front()->state();
}

std::vector<NodeState> Cluster::replica_states() const {
  std::vector<NodeState> out;
  for (std::size_t i = 1; i < impl_->nodes.size(); ++i) {
    out.push_back(impl_->nodes[i]->state());
  }
  return out;
}

}  // namespace surge::pg
