#include "cache/single_flight.hpp"

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "metrics/registry.hpp"

namespace surge::cache {
namespace {

namespace asio = boost::asio;
using Value = std::shared_ptr<const std::string>;

// A one-shot gate a loader waits on: a timer that never expires by itself and
// is cancelled to open. Opened from the thread that owns its io_context (or
// while no thread runs it).
class Gate {
 public:
  explicit Gate(asio::io_context& ctx) : timer_(ctx, asio::steady_timer::time_point::max()) {}
  void open() {
    opened_ = true;
    timer_.cancel();
  }
  asio::awaitable<void> wait() {
    if (opened_) {
      co_return;
    }
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

 private:
  asio::steady_timer timer_;
  bool opened_ = false;
};

// The load the tests count. Named coroutine, parameters by value.
asio::awaitable<Value> gated_load(Gate* gate, std::atomic<int>* calls, std::string value) {
  calls->fetch_add(1);
  co_await gate->wait();
  co_return std::make_shared<const std::string>(std::move(value));
}

asio::awaitable<Value> failing_load(Gate* gate, std::atomic<int>* calls) {
  calls->fetch_add(1);
  co_await gate->wait();
  throw std::runtime_error("database down");
}

struct Outcome {
  Value value;
  std::string error;
  // Keeps the shared exception alive until the test thread drops it, after
  // the joins. libstdc++ (not instrumented) counts exception_ptr references
  // atomically, but TSan cannot see that, so a last release on one I/O
  // thread after a what() on the other would be reported as a race.
  std::exception_ptr exception;
  std::thread::id resumed_on;
  bool done = false;
};

// One caller: records what it got and the thread it resumed on.
asio::awaitable<void> caller(SingleFlight<Value>* flight, std::string key,
                             SingleFlight<Value>::Load load, Outcome* out) {
  try {
    out->value = co_await flight->run(std::move(key), std::move(load));
  } catch (const std::exception& e) {
    out->exception = std::current_exception();
    out->error = e.what();
  }
  out->resumed_on = std::this_thread::get_id();
  out->done = true;
}

// Runs both contexts on this thread until neither has a ready handler: every
// caller is then suspended (the leader in its load, the others as waiters).
void settle(asio::io_context& a, asio::io_context& b) {
  while (a.poll() + b.poll() != 0) {
  }
}

struct SingleFlightTest : ::testing::Test {
  metrics::Registry registry;
  metrics::Counter joins = registry.counter("joins_total", "");
  SingleFlight<Value> flight{joins};
  asio::io_context ctx_a{1};
  asio::io_context ctx_b{1};

  // Then runs the contexts to completion on two threads.
  void run_on_two_threads(std::thread::id* id_a, std::thread::id* id_b) {
    std::thread ta([&] {
      *id_a = std::this_thread::get_id();
      ctx_a.run();
    });
    std::thread tb([&] {
      *id_b = std::this_thread::get_id();
      ctx_b.run();
    });
    ta.join();
    tb.join();
  }
};

TEST_F(SingleFlightTest, HundredCallersOnTwoThreadsShareOneLoad) {
  Gate gate(ctx_a);
  std::atomic<int> calls{0};
  std::vector<Outcome> out(100);
  for (int i = 0; i < 100; ++i) {
    asio::io_context& ctx = (i % 2 == 0) ? ctx_a : ctx_b;
    asio::co_spawn(ctx,
                   caller(
                       &flight, "user:1",
                       [&gate, &calls] { return gated_load(&gate, &calls, "profile-1"); }, &out[i]),
                   asio::detached);
  }
  settle(ctx_a, ctx_b);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(joins.value(), 99U);
  EXPECT_EQ(flight.in_flight(), 1U);

  gate.open();  // no thread runs ctx_a yet
  std::thread::id id_a;
  std::thread::id id_b;
  run_on_two_threads(&id_a, &id_b);

  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(flight.in_flight(), 0U);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(out[i].done) << i;
    ASSERT_NE(out[i].value, nullptr) << i;
    EXPECT_EQ(*out[i].value, "profile-1");
    // Every caller resumed on its own context's thread.
    EXPECT_EQ(out[i].resumed_on, i % 2 == 0 ? id_a : id_b) << i;
  }
  // One shared object, not 100 copies.
  EXPECT_EQ(out[0].value.get(), out[1].value.get());
}

TEST_F(SingleFlightTest, ExceptionReachesEveryCaller) {
  Gate gate(ctx_a);
  std::atomic<int> calls{0};
  std::vector<Outcome> out(10);
  for (int i = 0; i < 10; ++i) {
    asio::co_spawn(
        i % 2 == 0 ? ctx_a : ctx_b,
        caller(
            &flight, "k", [&gate, &calls] { return failing_load(&gate, &calls); }, &out[i]),
        asio::detached);
  }
  settle(ctx_a, ctx_b);
  gate.open();
  std::thread::id id_a;
  std::thread::id id_b;
  run_on_two_threads(&id_a, &id_b);
  EXPECT_EQ(calls.load(), 1);
  for (const Outcome& o : out) {
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.value, nullptr);
    EXPECT_EQ(o.error, "database down");
  }
  // Failures are not remembered: the next call loads again.
  Gate open_gate(ctx_a);
  open_gate.open();
  Outcome next;
  asio::co_spawn(ctx_a,
                 caller(
                     &flight, "k",
                     [&open_gate, &calls] { return gated_load(&open_gate, &calls, "ok"); }, &next),
                 asio::detached);
  ctx_a.restart();
  ctx_a.run();
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(*next.value, "ok");
}

TEST_F(SingleFlightTest, DifferentKeysLoadIndependently) {
  Gate gate(ctx_a);
  std::atomic<int> calls{0};
  std::vector<Outcome> out(4);
  for (int i = 0; i < 4; ++i) {
    const std::string key = fmt::format("k{}", i % 2);
    asio::co_spawn(
        ctx_a,
        caller(
            &flight, key, [&gate, &calls, key] { return gated_load(&gate, &calls, key); }, &out[i]),
        asio::detached);
  }
  settle(ctx_a, ctx_b);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(flight.in_flight(), 2U);
  gate.open();
  ctx_a.run();
  EXPECT_EQ(*out[0].value, "k0");
  EXPECT_EQ(*out[1].value, "k1");
  EXPECT_EQ(*out[2].value, "k0");
  EXPECT_EQ(*out[3].value, "k1");
}

TEST_F(SingleFlightTest, ForgetStartsANewFlightForLaterCallers) {
  Gate first_gate(ctx_a);
  Gate second_gate(ctx_a);
  std::atomic<int> calls{0};
  Outcome before;
  Outcome joined;
  Outcome after;
  asio::co_spawn(ctx_a,
                 caller(
                     &flight, "k", [&] { return gated_load(&first_gate, &calls, "old"); }, &before),
                 asio::detached);
  asio::co_spawn(ctx_a,
                 caller(
                     &flight, "k", [&] { return gated_load(&first_gate, &calls, "x"); }, &joined),
                 asio::detached);
  settle(ctx_a, ctx_b);
  flight.forget("k");  // an invalidation: "old" may be stale now
  asio::co_spawn(ctx_a,
                 caller(
                     &flight, "k", [&] { return gated_load(&second_gate, &calls, "new"); }, &after),
                 asio::detached);
  settle(ctx_a, ctx_b);
  EXPECT_EQ(calls.load(), 2);
  first_gate.open();
  settle(ctx_a, ctx_b);
  // The old flight finishing must not remove the new one from the map.
  EXPECT_EQ(flight.in_flight(), 1U);
  second_gate.open();
  ctx_a.run();
  EXPECT_EQ(*before.value, "old");
  EXPECT_EQ(*joined.value, "old");
  EXPECT_EQ(*after.value, "new");
}

TEST_F(SingleFlightTest, CancelledWaiterLeavesWithoutDisturbingTheOthers) {
  Gate gate(ctx_a);
  std::atomic<int> calls{0};
  Outcome leader;
  Outcome other;
  Outcome cancelled;
  asio::cancellation_signal signal;
  asio::co_spawn(ctx_a,
                 caller(
                     &flight, "k", [&] { return gated_load(&gate, &calls, "v"); }, &leader),
                 asio::detached);
  asio::co_spawn(ctx_b,
                 caller(
                     &flight, "k", [&] { return gated_load(&gate, &calls, "v"); }, &other),
                 asio::detached);
  asio::co_spawn(ctx_b,
                 caller(
                     &flight, "k", [&] { return gated_load(&gate, &calls, "v"); }, &cancelled),
                 asio::bind_cancellation_slot(signal.slot(), asio::detached));
  settle(ctx_a, ctx_b);
  signal.emit(asio::cancellation_type::terminal);
  settle(ctx_a, ctx_b);
  EXPECT_TRUE(cancelled.done);
  EXPECT_EQ(cancelled.value, nullptr);
  EXPECT_NE(cancelled.error.find("Operation canceled"), std::string::npos) << cancelled.error;
  EXPECT_FALSE(other.done);

  gate.open();
  settle(ctx_a, ctx_b);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(*leader.value, "v");
  EXPECT_EQ(*other.value, "v");
}

TEST_F(SingleFlightTest, WaitersAreAbortedWhenTheLeaderIsDestroyed) {
  auto leader_ctx = std::make_unique<asio::io_context>(1);
  auto gate = std::make_unique<Gate>(*leader_ctx);
  std::atomic<int> calls{0};
  Outcome leader;
  Outcome waiter;
  asio::co_spawn(*leader_ctx,
                 caller(
                     &flight, "k", [&] { return gated_load(gate.get(), &calls, "v"); }, &leader),
                 asio::detached);
  while (leader_ctx->poll() != 0) {
  }
  asio::co_spawn(ctx_b,
                 caller(
                     &flight, "k", [&] { return gated_load(gate.get(), &calls, "v"); }, &waiter),
                 asio::detached);
  while (ctx_b.poll() != 0) {
  }
  ASSERT_FALSE(waiter.done);
  // Tear the leader's context down with the leader suspended in its load (the
  // timer first: it must not outlive its context). The leader never resumes.
  gate.reset();
  leader_ctx.reset();
  ctx_b.run();
  EXPECT_FALSE(leader.done);
  EXPECT_TRUE(waiter.done);
  EXPECT_NE(waiter.error.find("Operation canceled"), std::string::npos) << waiter.error;
  EXPECT_EQ(flight.in_flight(), 0U);
}

// Real contention on the registration path: callers on two threads, loads not
// gated. Whatever the interleaving, every caller either led one load or
// joined one, and all got the value (TSan checks the rest).
TEST_F(SingleFlightTest, StressOnTwoThreads) {
  std::atomic<int> calls{0};
  Gate open_a(ctx_a);
  Gate open_b(ctx_b);
  open_a.open();
  open_b.open();
  constexpr int kCallers = 2000;
  std::vector<Outcome> out(kCallers);
  for (int i = 0; i < kCallers; ++i) {
    const bool on_a = i % 2 == 0;
    Gate* gate = on_a ? &open_a : &open_b;
    asio::co_spawn(on_a ? ctx_a : ctx_b,
                   caller(
                       &flight, fmt::format("k{}", i % 7),
                       [gate, &calls] { return gated_load(gate, &calls, "v"); }, &out[i]),
                   asio::detached);
  }
  std::thread::id id_a;
  std::thread::id id_b;
  run_on_two_threads(&id_a, &id_b);
  for (const Outcome& o : out) {
    ASSERT_TRUE(o.done);
    ASSERT_NE(o.value, nullptr);
    EXPECT_EQ(*o.value, "v");
  }
  EXPECT_EQ(static_cast<std::uint64_t>(calls.load()) + joins.value(),
            static_cast<std::uint64_t>(kCallers));
  EXPECT_EQ(flight.in_flight(), 0U);
}

}  // namespace
}  // namespace surge::cache
