#include "redis/shards.hpp"

#include <array>
#include <atomic>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "log/log.hpp"
#include "redis/connection.hpp"
#include "redis/hash.hpp"

namespace surge::redis {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

std::string_view status_name(ShardState::Status status) noexcept {
  switch (status) {
    case ShardState::Status::kUp:
      return "up";
    case ShardState::Status::kDown:
      return "down";
    case ShardState::Status::kOpenCircuit:
      return "open_circuit";
  }
  return "unknown";
}

namespace detail {

// ===========================================================================
// Per-shard state shared by every thread: breaker, health, metrics
// ===========================================================================

struct Shard {
  std::size_t index = 0;
  Address address;
  std::string address_text;
  std::uint32_t breaker_failures = 5;
  Clock::duration open_for{};

  // Breaker. `open` is read by every call (a shared, rarely written line).
  std::atomic<std::uint32_t> failures{0};
  std::atomic<bool> open{false};
  std::atomic<Clock::rep> open_until{0};
  // Health, for state().
  std::atomic<bool> up{false};
  mutable std::mutex mu;
  std::string last_error;  // guarded by mu

  metrics::Counter commands;
  std::array<metrics::Counter, Error::kKinds> errors;
  metrics::Histogram duration;
  metrics::Gauge connections;
  metrics::Gauge in_flight;
  metrics::Gauge circuit_open;
  metrics::Counter pool_waits;

  void count_error(Error::Kind kind) const noexcept {
    errors[static_cast<std::size_t>(kind)].add();
  }

  void mark_up() noexcept {
    if (up.exchange(true)) {
      return;
    }
    {
      const std::lock_guard lock(mu);
      last_error.clear();
    }
    log::info("redis shard up", {{"shard", index}, {"address", address_text}});
  }

  void mark_down(std::string_view error) noexcept {
    try {
      const std::lock_guard lock(mu);
      last_error.assign(error);
    } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory for a log string
    }
    if (up.exchange(false)) {
      log::warn("redis shard down",
                {{"shard", index}, {"address", address_text}, {"error", error}});
    }
  }

  // A call (or probe) got an answer.
  void success() noexcept {
    if (failures.load(std::memory_order_relaxed) != 0) {
      failures.store(0, std::memory_order_relaxed);
    }
    if (!up.load(std::memory_order_relaxed)) {
      mark_up();
    }
  }

  // A connection session failed (counted once per session, whatever the
  // number of callers in it).
  void failure(const Error& e) noexcept {
    mark_down(e.what());
    if (e.kind() != Error::Kind::kConnection && e.kind() != Error::Kind::kTimeout) {
      return;  // a protocol error is a bug or a bad server, not an outage
    }
    const std::uint32_t n = failures.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n >= breaker_failures && !open.exchange(true)) {
      open_until.store((Clock::now() + open_for).time_since_epoch().count());
      circuit_open.set(1);
      log::warn(
          "redis circuit open",
          {{"shard", index}, {"address", address_text}, {"failures", n}, {"error", e.what()}});
    }
  }

  // A health-check result. While open, a success after open_until closes
  // the breaker (the half-open probe); a failure after it re-opens it.
  void probe(bool ok, std::string_view error) noexcept {
    const Clock::rep now = Clock::now().time_since_epoch().count();
    const bool half_open = open.load() && now >= open_until.load();
    if (ok) {
      success();
      if (half_open && open.exchange(false)) {
        circuit_open.set(0);
        log::info("redis circuit closed", {{"shard", index}, {"address", address_text}});
      }
      return;
    }
    mark_down(error);
    if (half_open) {
      open_until.store((Clock::now() + open_for).time_since_epoch().count());
    }
  }
};

// Pooled and health-check connections report to their shard.
class ShardObserver final : public Connection::Observer {
 public:
  ShardObserver(std::shared_ptr<Shard> shard, bool pooled)
      : shard_(std::move(shard)), pooled_(pooled) {}

  void on_connected(Connection& /*c*/) noexcept override {
    if (pooled_) {
      shard_->connections.add(1);
    }
  }
  void on_disconnected(Connection& /*c*/) noexcept override {
    if (pooled_) {
      shard_->connections.add(-1);
    }
  }
  void on_failure(Connection& /*c*/, const Error& cause) noexcept override {
    shard_->failure(cause);
  }

 private:
  std::shared_ptr<Shard> shard_;
  bool pooled_;
};

// ===========================================================================
// Pub/sub: subscriptions live on io_per_thread[0]
// ===========================================================================

using MessageHandler = std::function<void(std::string_view)>;

// Touched by io_per_thread[0]'s thread only.
struct Channels {
  std::unordered_map<std::string, std::vector<MessageHandler>> handlers;
};

class SubscriberObserver final : public Connection::Observer {
 public:
  SubscriberObserver(std::shared_ptr<Channels> channels, std::size_t shard)
      : channels_(std::move(channels)), shard_(shard) {}

  void on_connected(Connection& c) noexcept override {
    try {
      // Re-subscribe everything on every new session.
      if (!channels_->handlers.empty()) {
        std::vector<std::string_view> args;
        args.reserve(channels_->handlers.size() + 1);
        args.emplace_back("SUBSCRIBE");
        for (const auto& [name, handlers] : channels_->handlers) {
          args.emplace_back(name);
        }
        c.send(Command(args).bytes());
      }
      log::info(
          "redis subscriber connected",
          {{"shard", shard_}, {"address", c.address()}, {"channels", channels_->handlers.size()}});
    } catch (const std::exception& e) {
      c.abort(e.what());
    }
  }

  void on_disconnected(Connection& c) noexcept override {
    log::warn("redis subscriber disconnected", {{"shard", shard_}, {"address", c.address()}});
  }

  void on_failure(Connection& c, const Error& cause) noexcept override {
    log::debug("redis subscriber failure",
               {{"shard", shard_}, {"address", c.address()}, {"error", cause.what()}});
  }

  void on_push(Connection& c, Reply&& reply) noexcept override {
    if (reply.is_error()) {
      log::warn("redis subscriber error reply",
                {{"shard", shard_}, {"address", c.address()}, {"error", reply.error_line()}});
      return;
    }
    // ["message", channel, payload]; subscribe confirmations and pongs are
    // only liveness.
    if (!reply.is_array()) {
      return;
    }
    const Reply::Array& a = reply.as_array();
    if (a.size() != 3 || !a[0].is_string() || !a[1].is_string() || !a[2].is_string() ||
        a[0].as_string() != "message") {
      return;
    }
    const auto it = channels_->handlers.find(a[1].as_string());
    if (it == channels_->handlers.end()) {
      return;
    }
    for (const MessageHandler& handler : it->second) {
      try {
        handler(a[2].as_string());
      } catch (const std::exception& e) {
        log::error("redis message handler threw",
                   {{"channel", a[1].as_string()}, {"error", e.what()}});
      } catch (...) {
        log::error("redis message handler threw", {{"channel", a[1].as_string()}});
      }
    }
  }

 private:
  std::shared_ptr<Channels> channels_;
  std::size_t shard_;
};

// ===========================================================================
// Per-thread state: pools, health checks, subscribers
// ===========================================================================

// Everything here belongs to `io` and is touched by its thread only (after
// construction). Owned by Shards and by the coroutines running on `io`.
struct ThreadState {
  struct Health {
    std::size_t shard = 0;
    std::shared_ptr<Connection> conn;
    std::unique_ptr<asio::steady_timer> timer;
  };

  asio::io_context* io = nullptr;
  std::size_t index = 0;
  std::vector<std::vector<std::shared_ptr<Connection>>> pools;  // [shard][k]
  std::vector<std::size_t> next;                                // round robin, [shard]
  std::vector<Health> health;
  // io_per_thread[0] only.
  std::shared_ptr<Channels> channels;
  std::vector<std::shared_ptr<Connection>> subscribers;  // [shard]
  std::unique_ptr<asio::steady_timer> subscriber_timer;
  bool subscriber_started = false;
  bool stopped = false;

  void shutdown() {
    if (stopped) {
      return;
    }
    stopped = true;
    for (auto& pool : pools) {
      for (auto& c : pool) {
        c->shutdown();
      }
    }
    for (auto& h : health) {
      h.conn->shutdown();
      h.timer->cancel();
    }
    for (auto& c : subscribers) {
      c->shutdown();
    }
    if (subscriber_timer) {
      subscriber_timer->cancel();
    }
  }
};

struct Core {
  Settings settings;
  std::vector<std::shared_ptr<Shard>> shards;
  std::vector<asio::io_context*> ios;
  std::vector<std::weak_ptr<ThreadState>> threads;
  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};

  // The state of the thread running the calling coroutine.
  std::shared_ptr<ThreadState> current() const {
    for (std::size_t i = 0; i < ios.size(); ++i) {
      if (ios[i]->get_executor().running_in_this_thread()) {
        return threads[i].lock();
      }
    }
    throw std::logic_error("redis::Shards called from a thread that runs none of its io_contexts");
  }
};

}  // namespace detail

// ===========================================================================
// Calls: named coroutines over the shared state (never `this`)
// ===========================================================================

namespace {

using detail::Core;
using detail::Shard;
using detail::ThreadState;

// Checks the stop flag and the breaker, then picks this thread's connection
// to `shard`: an open one with the fewest replies owed, else the next in
// turn (which connects; counted as a pool wait).
std::shared_ptr<Connection> acquire(const Core& core, std::size_t shard) {
  Shard& sh = *core.shards[shard];
  if (core.stopping.load(std::memory_order_relaxed)) {
    sh.count_error(Error::Kind::kConnection);
    throw ConnectionError("redis client is stopped");
  }
  if (sh.open.load(std::memory_order_relaxed)) {
    sh.count_error(Error::Kind::kCircuitOpen);
    throw CircuitOpenError(
        fmt::format("redis shard {} ({}): circuit open", shard, sh.address_text));
  }
  const std::shared_ptr<ThreadState> ts = core.current();
  if (!ts) {
    sh.count_error(Error::Kind::kConnection);
    throw ConnectionError("redis client is stopped");
  }
  const auto& pool = ts->pools[shard];
  const std::size_t first = ts->next[shard]++ % pool.size();
  const Connection* best = nullptr;
  std::size_t best_index = first;
  for (std::size_t k = 0; k < pool.size(); ++k) {
    const std::size_t i = (first + k) % pool.size();
    const Connection& c = *pool[i];
    if (c.state() != Connection::State::kOpen) {
      continue;
    }
    if (best == nullptr || c.in_flight() < best->in_flight()) {
      best = &c;
      best_index = i;
      if (c.in_flight() == 0) {
        break;
      }
    }
  }
  if (best == nullptr) {
    sh.pool_waits.add();
  }
  return pool[best_index];
}

// A call awaiting its reply, for surge_redis_in_flight: calls share
// pipelined connections, so calls in flight, not connections leased, are
// what the pool is being used for.
class InFlight {
 public:
  explicit InFlight(const metrics::Gauge& gauge) noexcept : gauge_(gauge) { gauge_.add(1); }
  ~InFlight() { gauge_.add(-1); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  InFlight(InFlight&&) = delete;
  InFlight& operator=(InFlight&&) = delete;

 private:
  const metrics::Gauge& gauge_;
};

asio::awaitable<Reply> run_command(std::shared_ptr<Core> core, std::size_t shard, Command command) {
  Shard& sh = *core->shards[shard];
  const std::shared_ptr<Connection> conn = acquire(*core, shard);
  const auto t0 = Clock::now();
  sh.commands.add();
  const InFlight in_flight(sh.in_flight);
  Reply reply;
  try {
    reply = co_await Connection::wait_one(conn->submit(command.bytes()));
  } catch (const Error& e) {
    sh.duration.observe(seconds_since(t0));
    sh.count_error(e.kind());
    throw;
  }
  sh.duration.observe(seconds_since(t0));
  sh.success();
  if (reply.is_error()) {
    sh.count_error(Error::Kind::kServer);
    reply.throw_if_error();
  }
  co_return reply;
}

asio::awaitable<std::vector<Reply>> run_pipeline(std::shared_ptr<Core> core, std::size_t shard,
                                                 std::vector<Command> commands) {
  if (commands.empty()) {
    co_return std::vector<Reply>{};
  }
  Shard& sh = *core->shards[shard];
  const std::shared_ptr<Connection> conn = acquire(*core, shard);
  std::size_t size = 0;
  for (const Command& c : commands) {
    size += c.bytes().size();
  }
  std::string bytes;
  bytes.reserve(size);
  for (const Command& c : commands) {
    bytes += c.bytes();
  }
  const auto t0 = Clock::now();
  sh.commands.add(commands.size());
  const InFlight in_flight(sh.in_flight);
  std::vector<Reply> replies;
  try {
    replies = co_await Connection::wait_all(conn->submit(bytes, commands.size()));
  } catch (const Error& e) {
    sh.duration.observe(seconds_since(t0));
    sh.count_error(e.kind());
    throw;
  }
  sh.duration.observe(seconds_since(t0));
  sh.success();
  for (const Reply& r : replies) {
    if (r.is_error()) {
      sh.count_error(Error::Kind::kServer);
    }
  }
  co_return replies;
}

asio::awaitable<Reply> run_eval(std::shared_ptr<Core> core, std::size_t shard, Script script,
                                Command evalsha) {
  Shard& sh = *core->shards[shard];
  const std::shared_ptr<Connection> conn = acquire(*core, shard);
  const auto t0 = Clock::now();
  sh.commands.add();
  const InFlight in_flight(sh.in_flight);
  Reply reply;
  try {
    reply = co_await Connection::wait_one(conn->submit(evalsha.bytes()));
    if (reply.is_error() && reply.error_prefix() == "NOSCRIPT") {
      // The shard lost its script cache (restart, failover, SCRIPT FLUSH):
      // load and run again in one round trip, once.
      const Command load{"SCRIPT", "LOAD", script.source()};
      sh.commands.add(2);
      Connection::Ticket loading = conn->submit(load.bytes());
      Connection::Ticket again = conn->submit(evalsha.bytes());
      Reply loaded = co_await Connection::wait_one(std::move(loading));
      reply = co_await Connection::wait_one(std::move(again));
      if (loaded.is_error()) {
        reply = std::move(loaded);  // a compile error says more than NOSCRIPT
      }
    }
  } catch (const Error& e) {
    sh.duration.observe(seconds_since(t0));
    sh.count_error(e.kind());
    throw;
  }
  sh.duration.observe(seconds_since(t0));
  sh.success();
  if (reply.is_error()) {
    sh.count_error(Error::Kind::kServer);
    reply.throw_if_error();
  }
  co_return reply;
}

// Parameters by value: a coroutine must own what it reads after suspending.
asio::awaitable<Reply> run_publish_all(
    std::shared_ptr<Core> core,
    std::string channel,    // NOLINT(performance-unnecessary-value-param): coroutine parameter
    std::string message) {  // NOLINT(performance-unnecessary-value-param): coroutine parameter
  const Command publish{"PUBLISH", channel, message};
  std::vector<std::pair<std::size_t, Connection::Ticket>> sent;
  sent.reserve(core->shards.size());
  std::exception_ptr last_error;
  const auto t0 = Clock::now();
  // Send on every available shard first, then collect: one round trip in all.
  for (std::size_t shard = 0; shard < core->shards.size(); ++shard) {
    Shard& sh = *core->shards[shard];
    if (sh.open.load(std::memory_order_relaxed)) {
      continue;
    }
    try {
      const std::shared_ptr<Connection> conn = acquire(*core, shard);
      sh.commands.add();
      sent.emplace_back(shard, conn->submit(publish.bytes()));
    } catch (const Error& e) {
      if (e.kind() != Error::Kind::kCircuitOpen) {
        sh.count_error(e.kind());
      }
      last_error = std::current_exception();
    }
  }
  std::int64_t receivers = 0;
  bool answered = false;
  for (auto& [shard, ticket] : sent) {
    Shard& sh = *core->shards[shard];
    try {
      const Reply r = co_await Connection::wait_one(std::move(ticket));
      sh.duration.observe(seconds_since(t0));
      sh.success();
      if (r.is_integer()) {
        receivers += r.as_integer();
        answered = true;
      } else {
        sh.count_error(Error::Kind::kServer);
        try {
          r.as_integer();  // throws the ServerError / ProtocolError it is
        } catch (const Error&) {
          last_error = std::current_exception();
        }
      }
    } catch (const Error& e) {
      sh.duration.observe(seconds_since(t0));
      sh.count_error(e.kind());
      last_error = std::current_exception();
    }
  }
  if (!answered) {
    if (last_error) {
      std::rethrow_exception(last_error);
    }
    throw CircuitOpenError("redis publish: every shard's circuit is open");
  }
  co_return Reply::integer(receivers);
}

asio::awaitable<void> health_loop(std::shared_ptr<Core> core, std::shared_ptr<ThreadState> ts,
                                  std::size_t slot) {
  ThreadState::Health& h = ts->health[slot];
  Shard& sh = *core->shards[h.shard];
  const Command ping{"PING"};
  while (!core->stopping.load() && !ts->stopped) {
    bool ok = false;
    std::string error;
    try {
      const Reply r = co_await Connection::wait_one(h.conn->submit(ping.bytes()));
      if (r.is_error()) {
        error = r.error_line();  // LOADING, MASTERDOWN…: reachable but not usable
      } else {
        ok = true;
      }
    } catch (const Error& e) {
      error = e.what();  // the session failure was counted by the observer
    }
    if (core->stopping.load() || ts->stopped) {
      break;
    }
    sh.probe(ok, error);
    h.timer->expires_after(core->settings.health_interval);
    co_await h.timer->async_wait(kAsTuple);
  }
}

// Keeps every subscriber connection open and alive: reconnects idle ones
// (on_connected re-subscribes), PINGs open ones and drops one that has been
// silent for too long (a half-open TCP connection never errors by itself).
asio::awaitable<void> subscriber_loop(std::shared_ptr<Core> core, std::shared_ptr<ThreadState> ts) {
  const Command ping{"PING"};
  const auto interval = core->settings.health_interval;
  const auto silent = interval * std::int64_t{3} + core->settings.command_timeout;
  while (!core->stopping.load() && !ts->stopped) {
    for (const auto& c : ts->subscribers) {
      switch (c->state()) {
        case Connection::State::kIdle:
          c->open();
          break;
        case Connection::State::kOpen:
          if (Clock::now() - c->last_read() > silent) {
            c->abort("subscriber connection silent");
          } else {
            c->send(ping.bytes());
          }
          break;
        default:
          break;
      }
    }
    ts->subscriber_timer->expires_after(interval);
    co_await ts->subscriber_timer->async_wait(kAsTuple);
  }
}

// On ts's thread.
void add_subscription(const std::shared_ptr<Core>& core, const std::shared_ptr<ThreadState>& ts,
                      const std::string& channel, detail::MessageHandler handler) {
  if (core->stopping.load() || ts->stopped) {
    return;
  }
  auto& handlers = ts->channels->handlers[channel];
  const bool fresh = handlers.empty();
  handlers.push_back(std::move(handler));
  if (!ts->subscriber_started) {
    ts->subscriber_started = true;
    for (const auto& c : ts->subscribers) {
      c->open();  // on_connected subscribes
    }
    asio::co_spawn(*ts->io, subscriber_loop(core, ts), asio::detached);
    return;
  }
  if (!fresh) {
    return;
  }
  const Command subscribe{"SUBSCRIBE", channel};
  for (const auto& c : ts->subscribers) {
    if (c->state() == Connection::State::kOpen) {
      c->send(subscribe.bytes());
    } else {
      c->open();  // connecting: on_connected subscribes to every channel
    }
  }
}

}  // namespace

// ===========================================================================
// Shards
// ===========================================================================

Shards::Shards(Settings settings, std::vector<asio::io_context*> io_per_thread,
               metrics::Registry& registry) {
  if (settings.shards.empty()) {
    throw std::invalid_argument("redis: no shard configured");
  }
  if (io_per_thread.empty()) {
    throw std::invalid_argument("redis: no io_context");
  }
  for (const auto* io : io_per_thread) {
    if (io == nullptr) {
      throw std::invalid_argument("redis: null io_context");
    }
  }
  if (settings.connections_per_thread == 0) {
    throw std::invalid_argument("redis: connections_per_thread must be at least 1");
  }
  if (settings.breaker_failures == 0) {
    throw std::invalid_argument("redis: breaker_failures must be at least 1");
  }
  if (settings.health_interval.count() <= 0 || settings.command_timeout.count() <= 0 ||
      settings.connect_timeout.count() <= 0) {
    throw std::invalid_argument("redis: timeouts and health_interval must be positive");
  }

  core_ = std::make_shared<detail::Core>();
  detail::Core& core = *core_;
  core.settings = std::move(settings);
  core.ios = std::move(io_per_thread);
  const Settings& s = core.settings;

  std::vector<std::shared_ptr<detail::ShardObserver>> pool_observers;
  std::vector<std::shared_ptr<detail::ShardObserver>> health_observers;
  for (std::size_t i = 0; i < s.shards.size(); ++i) {
    auto sh = std::make_shared<detail::Shard>();
    sh->index = i;
    sh->address = parse_address(s.shards[i]);
    sh->address_text = s.shards[i];
    sh->breaker_failures = static_cast<std::uint32_t>(s.breaker_failures);
    sh->open_for = s.breaker_open_for;
    const std::string label = std::to_string(i);
    const metrics::Labels shard_label{{"shard", label}};
    sh->commands =
        registry.counter("surge_redis_commands_total", "Redis commands sent.", shard_label);
    for (std::size_t k = 0; k < Error::kKinds; ++k) {
      sh->errors[k] = registry.counter(
          "surge_redis_errors_total", "Redis errors seen by callers, by kind.",
          {{"shard", label}, {"kind", std::string(kind_name(static_cast<Error::Kind>(k)))}});
    }
    sh->duration =
        registry.histogram("surge_redis_command_duration_seconds",
                           "Redis call latency (command, pipeline or eval).", shard_label);
    sh->connections = registry.gauge("surge_redis_pool_connections",
                                     "Open pooled Redis connections.", shard_label);
    sh->in_flight = registry.gauge(
        "surge_redis_in_flight", "Redis calls awaiting their reply (the pool's use).", shard_label);
    // What connections is measured against. Calls are pipelined on these
    // connections, so a connection is never "leased": in_flight is the
    // pool's use, and pool_waits counts calls that waited for a connection.
    registry
        .gauge("surge_redis_pool_size", "Pooled Redis connections per shard (all threads).",
               shard_label)
        .set(static_cast<std::int64_t>(s.connections_per_thread * core.ios.size()));
    sh->circuit_open = registry.gauge("surge_redis_circuit_open",
                                      "1 while the shard's circuit breaker is open.", shard_label);
    sh->pool_waits =
        registry.counter("surge_redis_pool_waits_total",
                         "Redis calls that waited for their connection to connect.", shard_label);
    pool_observers.push_back(std::make_shared<detail::ShardObserver>(sh, true));
    health_observers.push_back(std::make_shared<detail::ShardObserver>(sh, false));
    core.shards.push_back(std::move(sh));
  }

  const auto settings_for = [&](std::size_t shard, bool push) {
    ConnectionSettings cs;
    cs.address = core.shards[shard]->address;
    cs.connect_timeout = s.connect_timeout;
    cs.command_timeout = s.command_timeout;
    cs.push_mode = push;
    return cs;
  };

  const std::size_t nthreads = core.ios.size();
  for (std::size_t t = 0; t < nthreads; ++t) {
    auto ts = std::make_shared<detail::ThreadState>();
    ts->io = core.ios[t];
    ts->index = t;
    ts->pools.resize(core.shards.size());
    ts->next.assign(core.shards.size(), 0);
    for (std::size_t shard = 0; shard < core.shards.size(); ++shard) {
      for (std::size_t k = 0; k < s.connections_per_thread; ++k) {
        ts->pools[shard].push_back(
            Connection::create(*ts->io, settings_for(shard, false), pool_observers[shard]));
      }
      // Health checks are spread over the threads.
      if (shard % nthreads == t) {
        detail::ThreadState::Health h;
        h.shard = shard;
        h.conn = Connection::create(*ts->io, settings_for(shard, false), health_observers[shard]);
        h.timer = std::make_unique<asio::steady_timer>(*ts->io);
        ts->health.push_back(std::move(h));
      }
    }
    // Every thread subscribes on its own connections (see subscribe()).
    ts->channels = std::make_shared<detail::Channels>();
    for (std::size_t shard = 0; shard < core.shards.size(); ++shard) {
      ts->subscribers.push_back(
          Connection::create(*ts->io, settings_for(shard, true),
                             std::make_shared<detail::SubscriberObserver>(ts->channels, shard)));
    }
    ts->subscriber_timer = std::make_unique<asio::steady_timer>(*ts->io);
    core.threads.push_back(ts);
    threads_.push_back(std::move(ts));
  }
}

Shards::~Shards() {
  try {
    stop();
  } catch (const std::exception& e) {  // posting the shutdown failed (out of memory)
    log::error("redis shutdown failed", {{"error", e.what()}});
  }
}

void Shards::start() {
  if (core_->stopping.load() || core_->started.exchange(true)) {
    return;
  }
  for (const auto& ts : threads_) {
    for (std::size_t slot = 0; slot < ts->health.size(); ++slot) {
      asio::co_spawn(*ts->io, health_loop(core_, ts, slot), asio::detached);
    }
    // Warm the pools so the first requests do not pay for the connect.
    asio::post(*ts->io, [ts] {
      if (ts->stopped) {
        return;
      }
      for (const auto& pool : ts->pools) {
        for (const auto& c : pool) {
          c->open();
        }
      }
    });
  }
}

void Shards::stop() {
  if (core_->stopping.exchange(true)) {
    return;
  }
  for (const auto& ts : threads_) {
    asio::post(*ts->io, [ts] { ts->shutdown(); });
  }
}

std::size_t Shards::shard_count() const noexcept {
  return core_->shards.size();
}

std::size_t Shards::shard_for(std::uint64_t id) const noexcept {
  return shard_of(id, core_->shards.size());
}

std::size_t Shards::shard_for(std::string_view id) const noexcept {
  return shard_of(id, core_->shards.size());
}

const std::string& Shards::address(std::size_t shard) const {
  return core_->shards.at(shard)->address_text;
}

namespace {

void check_shard(const Core& core, std::size_t shard) {
  if (shard >= core.shards.size()) {
    throw std::out_of_range(
        fmt::format("redis: shard {} of {} does not exist", shard, core.shards.size()));
  }
}

}  // namespace

asio::awaitable<Reply> Shards::command(std::size_t shard, Command command) {
  check_shard(*core_, shard);
  return run_command(core_, shard, std::move(command));
}

asio::awaitable<std::vector<Reply>> Shards::pipeline(std::size_t shard,
                                                     std::vector<Command> commands) {
  check_shard(*core_, shard);
  return run_pipeline(core_, shard, std::move(commands));
}

asio::awaitable<Reply> Shards::eval(std::size_t shard, const Script& script, const Args& keys,
                                    const Args& args) {
  check_shard(*core_, shard);
  const std::string numkeys = std::to_string(keys.size());
  std::vector<std::string_view> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.emplace_back("EVALSHA");
  argv.emplace_back(script.sha1());
  argv.emplace_back(numkeys);
  argv.insert(argv.end(), keys.values().begin(), keys.values().end());
  argv.insert(argv.end(), args.values().begin(), args.values().end());
  return run_eval(core_, shard, script, Command(argv));
}

asio::awaitable<Reply> Shards::publish_all(std::string channel, std::string message) {
  return run_publish_all(core_, std::move(channel), std::move(message));
}

void Shards::subscribe(const std::string& channel,
                       const std::function<void(std::string_view message)>& on_message) {
  for (const auto& ts : threads_) {
    asio::post(*ts->io, [core = core_, ts, channel, handler = on_message]() mutable {
      add_subscription(core, ts, channel, std::move(handler));
    });
  }
}

ShardState Shards::state(std::size_t shard) const {
  const Shard& sh = *core_->shards.at(shard);
  ShardState out;
  out.address = sh.address_text;
  if (sh.open.load()) {
    out.status = ShardState::Status::kOpenCircuit;
  } else if (sh.up.load()) {
    out.status = ShardState::Status::kUp;
  } else {
    out.status = ShardState::Status::kDown;
  }
  {
    const std::lock_guard lock(sh.mu);
    out.last_error = sh.last_error;
  }
  if (out.status == ShardState::Status::kDown && out.last_error.empty()) {
    out.last_error = "not contacted yet";
  }
  return out;
}

bool Shards::available(std::size_t shard) const noexcept {
  return shard < core_->shards.size() &&
         !core_->shards[shard]->open.load(std::memory_order_relaxed);
}

}  // namespace surge::redis
