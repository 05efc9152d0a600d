// Shards against live Redis servers.
//
// By default the test starts its own redis-server processes
// (test_support::LocalRedis: free ports, no persistence, a temporary
// directory) and kills them at the end. SURGE_TEST_REDIS="host:port,host:port" uses
// existing servers instead (the tests that kill and restart a server are
// skipped then; keys carry a per-run prefix; SCRIPT FLUSH is used).
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "metrics/registry.hpp"
#include "redis/error.hpp"
#include "redis/shards.hpp"
#include "redis/test_support/local_servers.hpp"

namespace surge::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test_support::LocalRedis;

// ===========================================================================
// I/O threads and helpers
// ===========================================================================

// `n` servers of our own with DEBUG enabled, or SURGE_TEST_REDIS's.
LocalRedis::Options servers_of(std::size_t n) {
  return {.count = n, .enable_debug_command = true};
}

// Waits for `condition` with a deadline (no fixed sleeps).
bool eventually(const std::function<bool()>& condition, Clock::duration deadline = 5s) {
  const auto end = Clock::now() + deadline;
  while (Clock::now() < end) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

class IoThreads {
 public:
  explicit IoThreads(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      ios_.push_back(std::make_unique<asio::io_context>(1));
      guards_.emplace_back(asio::make_work_guard(*ios_.back()));
    }
    for (auto& io : ios_) {
      threads_.emplace_back([p = io.get()] { p->run(); });
    }
  }
  ~IoThreads() {
    guards_.clear();
    for (auto& io : ios_) {
      io->stop();
    }
    for (auto& t : threads_) {
      t.join();
    }
  }
  std::vector<asio::io_context*> contexts() const {
    std::vector<asio::io_context*> out;
    for (const auto& io : ios_) {
      out.push_back(io.get());
    }
    return out;
  }
  asio::io_context& operator[](std::size_t i) { return *ios_.at(i); }
  std::size_t size() const noexcept { return ios_.size(); }

 private:
  std::vector<std::unique_ptr<asio::io_context>> ios_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

// An exception caught on an I/O thread, carried to the test thread by value:
// rethrowing one exception object on two threads makes TSan report its
// (uninstrumented) libstdc++ reference count as a race.
struct Caught {
  enum class Type { kRedis, kLogic, kOther } type = Type::kOther;
  Error::Kind kind = Error::Kind::kProtocol;
  std::string prefix;
  std::string what;

  [[noreturn]] void rethrow() const {
    if (type == Type::kLogic) {
      throw std::logic_error(what);
    }
    if (type == Type::kOther) {
      throw std::runtime_error(what);
    }
    switch (kind) {
      case Error::Kind::kConnection:
        throw ConnectionError(what);
      case Error::Kind::kTimeout:
        throw TimeoutError(what);
      case Error::Kind::kCircuitOpen:
        throw CircuitOpenError(what);
      case Error::Kind::kServer:
        throw ServerError(prefix, what);
      case Error::Kind::kProtocol:
        break;
    }
    throw ProtocolError(what);
  }
};

template <typename T>
asio::awaitable<std::pair<std::optional<T>, std::optional<Caught>>> capture(asio::awaitable<T> a) {
  Caught caught;
  try {
    co_return std::make_pair(std::optional<T>(co_await std::move(a)), std::optional<Caught>());
  } catch (const Error& e) {
    caught = Caught{Caught::Type::kRedis, e.kind(), e.server_prefix(), e.what()};
  } catch (const std::logic_error& e) {
    caught = Caught{Caught::Type::kLogic, Error::Kind::kProtocol, {}, e.what()};
  } catch (const std::exception& e) {
    caught = Caught{Caught::Type::kOther, Error::Kind::kProtocol, {}, e.what()};
  }
  co_return std::make_pair(std::optional<T>(), std::optional<Caught>(std::move(caught)));
}

// Runs an awaitable on `io` and waits for its result (rethrows its error).
template <typename T>
T run_on(asio::io_context& io, asio::awaitable<T> a) {
  auto f = asio::co_spawn(io, capture(std::move(a)), asio::use_future);
  if (f.wait_for(15s) != std::future_status::ready) {
    throw std::runtime_error("awaitable did not finish");
  }
  auto [value, caught] = f.get();
  if (caught) {
    caught->rethrow();
  }
  return std::move(*value);
}

// The value of one rendered series ("name{labels}"), or -1 if absent.
double metric(const metrics::Registry& registry, const std::string& series) {
  const std::string text = registry.render();
  const std::size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) {
    return -1;
  }
  return std::stod(text.substr(at + series.size() + 2));
}

std::string run_prefix() {
  std::random_device rd;
  return "surge-test:" + std::to_string(rd()) + ":";
}

Settings fast_settings(std::vector<std::string> shards) {
  Settings s;
  s.shards = std::move(shards);
  // A dead shard refuses at once; the timeouts only bound a loaded machine.
  s.connect_timeout = 2s;
  s.command_timeout = 2s;
  s.breaker_failures = 3;
  s.breaker_open_for = 300ms;
  s.health_interval = 50ms;
  return s;
}

// ===========================================================================
// Commands, pipelines, scripts
// ===========================================================================

TEST(RedisShards, SetGetIncrAndTypedServerErrors) {
  LocalRedis servers(servers_of(2));
  metrics::Registry registry;
  IoThreads io(1);
  Shards shards(fast_settings(servers.addresses()), io.contexts(), registry);
  shards.start();
  const std::string p = run_prefix();
  const std::string user = "1001";
  const std::size_t s = shards.shard_for(user);
  const std::string key = p + "user:" + user;

  EXPECT_EQ(run_on(io[0], shards.command(s, {"SET", key, "hello"})), Reply::status("OK"));
  EXPECT_EQ(run_on(io[0], shards.command(s, {"GET", key})).as_string(), "hello");
  EXPECT_TRUE(run_on(io[0], shards.command(s, {"GET", p + "missing"})).is_nil());
  EXPECT_EQ(run_on(io[0], shards.command(s, {"INCR", p + "n"})).as_integer(), 1);
  EXPECT_EQ(run_on(io[0], shards.command(s, {"INCRBY", p + "n", 41})).as_integer(), 42);
  EXPECT_EQ(run_on(io[0], shards.command(s, {"DEL", key, p + "n"})).as_integer(), 2);

  run_on(io[0], shards.command(s, {"LPUSH", key, "x"}));
  try {
    run_on(io[0], shards.command(s, {"INCR", key}));
    FAIL() << "no throw";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.prefix(), "WRONGTYPE");
    EXPECT_EQ(e.kind(), Error::Kind::kServer);
  }
  run_on(io[0], shards.command(s, {"DEL", key}));
  EXPECT_THROW((void)shards.command(7, {"PING"}), std::out_of_range);

  const std::string label = "shard=\"" + std::to_string(s) + "\"";
  EXPECT_EQ(metric(registry, "surge_redis_errors_total{kind=\"server\"," + label + "}"), 1);
  EXPECT_EQ(metric(registry, "surge_redis_commands_total{" + label + "}"), 9);
  EXPECT_EQ(metric(registry, "surge_redis_command_duration_seconds_count{" + label + "}"), 9);
  shards.stop();
}

TEST(RedisShards, PipelineOfAThousandCommandsInOrder) {
  LocalRedis servers(servers_of(1));
  metrics::Registry registry;
  IoThreads io(1);
  Shards shards(fast_settings(servers.addresses()), io.contexts(), registry);
  const std::string key = run_prefix() + "counter";
  std::vector<Command> cmds;
  for (int i = 0; i < 1000; ++i) {
    cmds.emplace_back("INCR", key);
  }
  cmds.emplace_back("HGET", key, "f");  // WRONGTYPE, returned in place
  cmds.emplace_back("DEL", key);
  const auto replies = run_on(io[0], shards.pipeline(0, std::move(cmds)));
  ASSERT_EQ(replies.size(), 1002U);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(replies[i].as_integer(), i + 1) << i;
  }
  EXPECT_EQ(replies[1000].error_prefix(), "WRONGTYPE");
  EXPECT_EQ(replies[1001].as_integer(), 1);
  EXPECT_EQ(metric(registry, "surge_redis_commands_total{shard=\"0\"}"), 1002);
  EXPECT_TRUE(run_on(io[0], shards.pipeline(0, {})).empty());
}

TEST(RedisShards, EvalShaReloadsTheScriptAfterScriptFlush) {
  LocalRedis servers(servers_of(1));
  metrics::Registry registry;
  IoThreads io(1);
  Shards shards(fast_settings(servers.addresses()), io.contexts(), registry);
  const std::string p = run_prefix();
  const Script incr_by("return redis.call('INCRBY', KEYS[1], ARGV[1])");

  run_on(io[0], shards.command(0, {"SCRIPT", "FLUSH"}));
  EXPECT_EQ(run_on(io[0], shards.eval(0, incr_by, {p + "k"}, {5})).as_integer(), 5);
  const Reply exists = run_on(io[0], shards.command(0, {"SCRIPT", "EXISTS", incr_by.sha1()}));
  EXPECT_EQ(exists.as_array().at(0).as_integer(), 1);
  EXPECT_EQ(run_on(io[0], shards.eval(0, incr_by, {p + "k"}, {5})).as_integer(), 10);

  run_on(io[0], shards.command(0, {"SCRIPT", "FLUSH"}));
  EXPECT_EQ(run_on(io[0], shards.eval(0, incr_by, {p + "k"}, {1})).as_integer(), 11);

  // A script's own error is a ServerError; a script that does not compile
  // reports the compile error, not NOSCRIPT.
  const Script fails("return redis.error_reply('OVERSOLD stock is empty')");
  try {
    run_on(io[0], shards.eval(0, fails));
    FAIL() << "no throw";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.prefix(), "OVERSOLD");
  }
  const Script broken("this is not lua");
  try {
    run_on(io[0], shards.eval(0, broken));
    FAIL() << "no throw";
  } catch (const ServerError& e) {
    EXPECT_NE(e.prefix(), "NOSCRIPT") << e.what();
  }
  run_on(io[0], shards.command(0, {"DEL", p + "k"}));
}

// ===========================================================================
// Pub/sub
// ===========================================================================

struct Inbox {
  std::mutex mu;
  std::vector<std::string> messages;
  std::size_t count(const std::string& m) {
    const std::lock_guard lock(mu);
    return static_cast<std::size_t>(std::count(messages.begin(), messages.end(), m));
  }
};

// Publishes `message` until both shards' subscribers receive it (they
// subscribe asynchronously, and re-subscribe after a restart).
bool publish_until_delivered(IoThreads& io, Shards& shards, const std::string& channel,
                             const std::string& message, Inbox& inbox) {
  return eventually(
      [&] {
        try {
          // Two shards, each with one subscriber connection per I/O thread.
          const Reply r = run_on(io[0], shards.publish_all(channel, message));
          return r.as_integer() == 2 * static_cast<std::int64_t>(io.size()) &&
                 inbox.count(message) >= 2 * io.size();
        } catch (const Error&) {
          return false;
        }
      },
      10s);
}

TEST(RedisShards, PubSubDeliversAndResubscribesAfterRestart) {
  LocalRedis servers(servers_of(2));
  metrics::Registry registry;
  IoThreads io(2);
  Shards shards(fast_settings(servers.addresses()), io.contexts(), registry);
  shards.start();
  const std::string channel = run_prefix() + "invalidate";
  auto inbox = std::make_shared<Inbox>();
  // Every I/O thread applies every message itself.
  std::array<std::atomic<int>, 2> per_thread{};
  shards.subscribe(channel, [inbox, &io, &per_thread](std::string_view m) {
    for (std::size_t t = 0; t < per_thread.size(); ++t) {
      if (io[t].get_executor().running_in_this_thread()) {
        per_thread[t].fetch_add(1);
      }
    }
    const std::lock_guard lock(inbox->mu);
    inbox->messages.emplace_back(m);
  });
  ASSERT_TRUE(publish_until_delivered(io, shards, channel, "user:1", *inbox));
  // Once per shard on each thread. Deliveries of a retried publish can
  // still be in flight when the inbox count is reached (it counts every
  // copy), hence the wait.
  EXPECT_TRUE(eventually([&] { return per_thread[0].load() >= 2 && per_thread[1].load() >= 2; }))
      << per_thread[0].load() << " and " << per_thread[1].load() << " deliveries";

  if (!servers.owned()) {
    GTEST_SKIP() << "restart needs test-owned servers";
  }
  servers.kill(1);
  servers.start(1);
  ASSERT_TRUE(publish_until_delivered(io, shards, channel, "user:2", *inbox));
  shards.stop();
}

// ===========================================================================
// Breaker, health, threads, stop
// ===========================================================================

asio::awaitable<std::vector<double>> failing_calls(Shards& shards, std::size_t shard, int n,
                                                   std::shared_ptr<int> open_errors) {
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    try {
      co_await shards.command(shard, {"PING"});
    } catch (const CircuitOpenError&) {
      ++*open_errors;
    } catch (const Error&) {
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  co_return ms;
}

TEST(RedisShards, BreakerOpensOnADeadShardFailsFastAndClosesAfterRestart) {
  LocalRedis servers(servers_of(2));
  if (!servers.owned()) {
    GTEST_SKIP() << "needs test-owned servers";
  }
  metrics::Registry registry;
  IoThreads io(1);
  Shards shards(fast_settings(servers.addresses()), io.contexts(), registry);
  shards.start();
  ASSERT_TRUE(eventually([&] {
    return shards.state(0).status == ShardState::Status::kUp &&
           shards.state(1).status == ShardState::Status::kUp;
  }));

  servers.kill(1);
  // Connection failures (calls and health checks) open the breaker.
  ASSERT_TRUE(eventually([&] {
    try {
      run_on(io[0], shards.command(1, {"PING"}));
    } catch (const Error&) {
    }
    return shards.state(1).status == ShardState::Status::kOpenCircuit;
  }));
  EXPECT_FALSE(shards.available(1));
  EXPECT_FALSE(shards.state(1).last_error.empty());
  EXPECT_EQ(metric(registry, "surge_redis_circuit_open{shard=\"1\"}"), 1);

  auto open_errors = std::make_shared<int>(0);
  const auto ms = run_on(io[0], failing_calls(shards, 1, 20, open_errors));
  EXPECT_EQ(*open_errors, 20);
  for (double m : ms) {
    EXPECT_LT(m, 1000.0);  // answered without waiting for the 2 s timeouts
  }
  // The healthy shard is unaffected.
  EXPECT_EQ(run_on(io[0], shards.command(0, {"PING"})).as_string(), "PONG");

  servers.start(1);
  ASSERT_TRUE(eventually([&] { return shards.state(1).status == ShardState::Status::kUp; }));
  EXPECT_TRUE(shards.available(1));
  EXPECT_TRUE(eventually([&] {
    try {
      return run_on(io[0], shards.command(1, {"PING"})).as_string() == "PONG";
    } catch (const Error&) {
      return false;
    }
  }));
  EXPECT_EQ(metric(registry, "surge_redis_circuit_open{shard=\"1\"}"), 0);
  EXPECT_GE(metric(registry, "surge_redis_errors_total{kind=\"circuit_open\",shard=\"1\"}"), 20);
  EXPECT_GE(metric(registry, "surge_redis_errors_total{kind=\"connection\",shard=\"1\"}"), 1);
  shards.stop();
}

TEST(RedisShards, SlowReplyTimesOut) {
  LocalRedis servers(servers_of(1));
  metrics::Registry registry;
  IoThreads io(1);
  Settings settings = fast_settings(servers.addresses());
  settings.command_timeout = 100ms;
  settings.breaker_failures = 100;
  Shards shards(settings, io.contexts(), registry);
  const auto t0 = Clock::now();
  try {
    run_on(io[0], shards.command(0, {"DEBUG", "SLEEP", "2"}));
    FAIL() << "no throw";
  } catch (const TimeoutError&) {
  } catch (const ServerError& e) {
    GTEST_SKIP() << "DEBUG is disabled on this server: " << e.what();
  }
  EXPECT_LT(Clock::now() - t0, 1500ms);  // the 100 ms timeout, not the 2 s reply
  // The next call reconnects (the old connection's reply is never read).
  EXPECT_TRUE(eventually([&] {
    try {
      return run_on(io[0], shards.command(0, {"PING"})).as_string() == "PONG";
    } catch (const Error&) {
      return false;
    }
  }));
  // The reconnecting PINGs may time out too while the server still sleeps.
  EXPECT_GE(metric(registry, "surge_redis_errors_total{kind=\"timeout\",shard=\"0\"}"), 1.0);
}

asio::awaitable<std::int64_t> incr_many(Shards& shards, std::string key, int n) {
  std::int64_t last = 0;
  for (int i = 0; i < n; ++i) {
    last = (co_await shards.command(0, {"INCR", key})).as_integer();
  }
  co_return last;
}

TEST(RedisShards, CallsFromTwoIoThreadsAtOnce) {
  LocalRedis servers(servers_of(1));
  metrics::Registry registry;
  IoThreads io(2);
  Shards shards(fast_settings(servers.addresses()), io.contexts(), registry);
  shards.start();
  const std::string key = run_prefix() + "shared";
  constexpr int kPerCoroutine = 500;
  constexpr int kCoroutinesPerThread = 8;
  std::vector<std::future<std::int64_t>> results;
  for (std::size_t t = 0; t < 2; ++t) {
    for (int c = 0; c < kCoroutinesPerThread; ++c) {
      results.push_back(
          asio::co_spawn(io[t], incr_many(shards, key, kPerCoroutine), asio::use_future));
    }
  }
  for (auto& f : results) {
    ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
    EXPECT_GT(f.get(), 0);
  }
  EXPECT_EQ(run_on(io[1], shards.command(0, {"GET", key})).as_string(),
            std::to_string(2 * kCoroutinesPerThread * kPerCoroutine));
  // One pooled connection per thread.
  EXPECT_EQ(metric(registry, "surge_redis_pool_connections{shard=\"0\"}"), 2);
  EXPECT_EQ(metric(registry, "surge_redis_pool_size{shard=\"0\"}"), 2);

  // A thread that runs none of the io_contexts may not call.
  asio::io_context foreign(1);
  auto f = asio::co_spawn(foreign, shards.command(0, {"PING"}), asio::use_future);
  foreign.run();
  EXPECT_THROW(f.get(), std::logic_error);
  run_on(io[0], shards.command(0, {"DEL", key}));
  shards.stop();
}

TEST(RedisShards, InFlightCountsCallsAwaitingTheirReply) {
  LocalRedis servers(servers_of(1));
  metrics::Registry registry;
  IoThreads io(1);
  Shards shards(fast_settings(servers.addresses()), io.contexts(), registry);
  shards.start();
  const std::string key = run_prefix() + "in-flight";
  // Two calls the server parks until their timeout (they may share one
  // pipelined connection: each still awaits its own reply).
  auto first = asio::co_spawn(io[0], shards.command(0, {"BLPOP", key, "0.4"}), asio::use_future);
  auto second =
      asio::co_spawn(io[0], shards.pipeline(0, {{"BLPOP", key, "0.4"}}), asio::use_future);
  EXPECT_TRUE(
      eventually([&] { return metric(registry, "surge_redis_in_flight{shard=\"0\"}") == 2; }));
  ASSERT_EQ(first.wait_for(5s), std::future_status::ready);
  ASSERT_EQ(second.wait_for(5s), std::future_status::ready);
  first.get();
  second.get();
  EXPECT_EQ(metric(registry, "surge_redis_in_flight{shard=\"0\"}"), 0);
  shards.stop();
}

TEST(RedisShards, StopFailsCallsFastAndClosesConnections) {
  LocalRedis servers(servers_of(1));
  metrics::Registry registry;
  IoThreads io(1);
  Shards shards(fast_settings(servers.addresses()), io.contexts(), registry);
  shards.start();
  EXPECT_EQ(run_on(io[0], shards.command(0, {"PING"})).as_string(), "PONG");
  shards.stop();
  EXPECT_THROW(run_on(io[0], shards.command(0, {"PING"})), ConnectionError);
  EXPECT_TRUE(eventually(
      [&] { return metric(registry, "surge_redis_pool_connections{shard=\"0\"}") == 0; }));
}

}  // namespace
}  // namespace surge::redis
