// The worker's consumer pool against a live Redis, with a fake sink (no
// database): every entry persisted once and acknowledged, malformed entries
// and entries failing every delivery dead-lettered, a dead consumer's
// entries claimed back, the stream trimmed, stop() drains.
//
// Starts its own redis-server unless SURGE_TEST_REDIS names one (streams
// then carry a random name per run).
#include <algorithm>
#include <chrono>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "campaigns/stream.hpp"
#include "metrics/registry.hpp"
#include "redis/shards.hpp"
#include "redis/test_support/local_servers.hpp"
#include "worker/consumer.hpp"

namespace surge::worker {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using redis::test_support::LocalRedis;

// Persists entries with a "v" field; one whose v is "fail" fails its batch.
class FakeSink : public Sink {
 public:
  explicit FakeSink(std::string stream) : stream_(std::move(stream)) {}
  std::string_view stream() const override { return stream_; }
  bool well_formed(const campaigns::Entry& e) const override { return e.get("v").has_value(); }
  asio::awaitable<void> persist(const std::vector<campaigns::Entry>& entries) override {
    for (const auto& e : entries) {
      if (e.get("v") == std::optional<std::string_view>("fail")) {
        std::lock_guard lock(mutex_);
        ++failures_;
        throw std::runtime_error("fake sink: refused");
      }
    }
    std::lock_guard lock(mutex_);
    largest_batch_ = std::max(largest_batch_, entries.size());
    for (const auto& e : entries) {
      ++deliveries_;
      ids_.insert(e.id);
    }
    co_return;
  }
  std::size_t largest_batch() {
    std::lock_guard lock(mutex_);
    return largest_batch_;
  }
  std::size_t persisted() {
    std::lock_guard lock(mutex_);
    return ids_.size();
  }
  std::size_t failures() {
    std::lock_guard lock(mutex_);
    return failures_;
  }

 private:
  std::string stream_;
  std::mutex mutex_;
  std::set<std::string> ids_;
  std::size_t deliveries_ = 0;
  std::size_t failures_ = 0;
  std::size_t largest_batch_ = 0;
};

class WorkerPoolRedisTest : public ::testing::Test {
 protected:
  WorkerPoolRedisTest()
      : guard_(asio::make_work_guard(io_)),
        shards_(redis_settings(server_.address()), {&io_}, registry_),
        sink_(random_stream()) {
    shards_.start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~WorkerPoolRedisTest() override {
    if (pool_) {
      pool_->stop();
      pool_->wait(5s);
    }
    shards_.stop();
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  static redis::Settings redis_settings(const std::string& address) {
    redis::Settings s;
    s.shards = {address};
    return s;
  }
  static std::string random_stream() {
    std::mt19937_64 rng(std::random_device{}());
    return "test:stream:" + std::to_string(rng());
  }
  void start_pool() {
    Settings s;
    s.consumers = 2;
    s.batch_size = 10;
    s.claim_idle = 300ms;
    s.max_deliveries = 2;
    s.poll_interval = 5ms;
    pool_ = std::make_unique<Pool>(s, shards_, std::vector<Sink*>{&sink_},
                                   std::vector<asio::io_context*>{&io_}, registry_);
    pool_->start();
  }
  redis::Reply call(std::vector<std::string> args) {
    return asio::co_spawn(io_, command(std::move(args)), asio::use_future).get();
  }
  asio::awaitable<redis::Reply> command(std::vector<std::string> args) {
    redis::Command c(args);
    co_return co_await shards_.command(0, std::move(c));
  }
  std::string xadd(const std::string& value) {
    return call({"XADD", std::string(sink_.stream()), "*", "v", value}).as_string();
  }
  std::int64_t pending() {
    return call({"XPENDING", std::string(sink_.stream()), "persist"}).as_array()[0].as_integer();
  }
  std::vector<campaigns::Entry> dead() {
    return campaigns::parse_entries(
        call({"XRANGE", campaigns::dead_letter_stream(sink_.stream()), "-", "+"}));
  }
  template <typename P>
  bool eventually(P predicate, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (predicate()) {
        return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    return predicate();
  }

  LocalRedis server_;
  metrics::Registry registry_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  redis::Shards shards_;
  FakeSink sink_;
  std::unique_ptr<Pool> pool_;
  std::thread thread_;
};

TEST_F(WorkerPoolRedisTest, PersistsEveryEntryAcksAndTrims) {
  start_pool();
  for (int i = 0; i < 95; ++i) {
    xadd(std::to_string(i));
  }
  ASSERT_TRUE(eventually([&] { return sink_.persisted() == 95; }));
  ASSERT_TRUE(eventually([&] { return pending() == 0; }));
  // Trimmed to the last delivered entry: nothing unacknowledged was there.
  EXPECT_TRUE(eventually([&] {
    return call({"XLEN", std::string(sink_.stream())}).as_integer() <= 1;
  }));
  EXPECT_TRUE(dead().empty());
  pool_->stop();
  EXPECT_TRUE(pool_->wait(5s));
  EXPECT_EQ(pool_->running(), 0U);
}

TEST_F(WorkerPoolRedisTest, ABacklogIsReadManyBatchesAtATimeAndPersistedBatchByBatch) {
  // 500 entries waiting before the consumers start: each read takes several
  // batches, each transaction at most batch_size (10) entries, and every
  // entry is acknowledged in the end (acks of several batches may share an
  // XACK, none is lost).
  for (int i = 0; i < 500; ++i) {
    xadd(std::to_string(i));
  }
  start_pool();
  ASSERT_TRUE(eventually([&] { return sink_.persisted() == 500; }));
  ASSERT_TRUE(eventually([&] { return pending() == 0; }));
  EXPECT_EQ(sink_.largest_batch(), 10U);
  pool_->stop();
  EXPECT_TRUE(pool_->wait(5s));
}

TEST_F(WorkerPoolRedisTest, MalformedGoesToTheDeadLetterStreamAtOnce) {
  start_pool();
  const std::string bad = call({"XADD", std::string(sink_.stream()), "*", "x", "1"}).as_string();
  xadd("good");
  ASSERT_TRUE(eventually([&] { return dead().size() == 1; }));
  const auto letters = dead();
  EXPECT_EQ(letters[0].get("source_id"), std::optional<std::string_view>(bad));
  EXPECT_EQ(letters[0].get("reason"), std::optional<std::string_view>("malformed entry"));
  EXPECT_TRUE(eventually([&] { return sink_.persisted() == 1 && pending() == 0; }));
}

TEST_F(WorkerPoolRedisTest, FailingEntryIsRetriedThenDeadLetteredAndDoesNotBlockOthers) {
  start_pool();
  const std::string poison = xadd("fail");
  for (int i = 0; i < 5; ++i) {
    xadd(std::to_string(i));
  }
  // The others get through at once (the batch is retried entry by entry).
  ASSERT_TRUE(eventually([&] { return sink_.persisted() == 5; }, 3s));
  ASSERT_TRUE(eventually([&] { return dead().size() == 1; }));
  const auto letters = dead();
  EXPECT_EQ(letters[0].get("source_id"), std::optional<std::string_view>(poison));
  EXPECT_EQ(letters[0].get("reason"), std::optional<std::string_view>("delivered too many times"));
  EXPECT_GT(letters[0].get_int("deliveries").value_or(0), 2);
  EXPECT_GE(sink_.failures(), 2U);
  EXPECT_TRUE(eventually([&] { return pending() == 0; }));
}

TEST_F(WorkerPoolRedisTest, ADeadConsumersEntriesAreClaimedBack) {
  const std::string stream(sink_.stream());
  call({"XGROUP", "CREATE", stream, "persist", "0", "MKSTREAM"});
  for (int i = 0; i < 7; ++i) {
    xadd(std::to_string(i));
  }
  // "ghost" reads them and dies without acknowledging.
  const auto taken = campaigns::parse_read(
      call({"XREADGROUP", "GROUP", "persist", "ghost", "COUNT", "100", "STREAMS", stream, ">"}));
  ASSERT_EQ(taken.size(), 7U);
  start_pool();
  ASSERT_TRUE(eventually([&] { return sink_.persisted() == 7 && pending() == 0; }));
  EXPECT_TRUE(dead().empty());
}

}  // namespace
}  // namespace surge::worker
