// The campaign scripts against a live Redis: the red packet grab and the
// flash-sale reservation (redpackets/hot.hpp, flashsales/hot.hpp), with
// their stream entries.
//
// Starts its own redis-server (free port, no persistence) unless
// SURGE_TEST_REDIS="host:port" names one (campaign ids are random per run).
#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "campaigns/queue_stats.hpp"
#include "campaigns/stream.hpp"
#include "campaigns/time.hpp"
#include "flashsales/hot.hpp"
#include "metrics/registry.hpp"
#include "redis/shards.hpp"
#include "redis/test_support/local_servers.hpp"
#include "redpackets/hot.hpp"

namespace surge::campaigns {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using redis::test_support::LocalRedis;

class CampaignScriptsRedisTest : public ::testing::Test {
 protected:
  CampaignScriptsRedisTest()
      : guard_(asio::make_work_guard(io_)),
        shards_(redis_settings(server_.address()), {&io_}, registry_) {
    shards_.start();
    thread_ = std::thread([this] { io_.run(); });
    std::mt19937_64 rng(std::random_device{}());
    id_ = 1'000'000'000 + rng() % 1'000'000'000;
  }
  ~CampaignScriptsRedisTest() override {
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
  template <typename T>
  T run(asio::awaitable<T> work) {
    return asio::co_spawn(io_, std::move(work), asio::use_future).get();
  }
  asio::awaitable<bool> preload_rp(std::uint64_t id, redpackets::Meta meta,
                                   std::vector<std::int64_t> amounts) {
    co_await redpackets::preload(shards_, id, meta, std::move(amounts));
    co_return true;
  }
  asio::awaitable<bool> preload_fs(std::uint64_t id, flashsales::Meta meta) {
    co_await flashsales::preload(shards_, id, meta);
    co_return true;
  }
  // The stream's entries whose `field` is `id`.
  asio::awaitable<std::vector<Entry>> entries(std::string stream, std::string field,
                                              std::uint64_t id) {
    const redis::Reply r = co_await shards_.command(0, {"XRANGE", stream, "-", "+"});
    std::vector<Entry> all = parse_entries(r);
    std::vector<Entry> out;
    for (auto& e : all) {
      if (e.get_int(field) == static_cast<std::int64_t>(id)) {
        out.push_back(std::move(e));
      }
    }
    co_return out;
  }

  LocalRedis server_;
  metrics::Registry registry_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  redis::Shards shards_;
  std::thread thread_;
  std::uint64_t id_ = 0;
};

using GrabOutcome = redpackets::Grab::Outcome;

TEST_F(CampaignScriptsRedisTest, GrabPopsOncePerUserAndAppendsTheRecord) {
  const std::int64_t now = now_ms();
  ASSERT_TRUE(run(preload_rp(id_, {now - 1000, now + 60'000, 2, 7}, {3, 4})));
  const auto a = run(redpackets::grab(shards_, id_, 11));
  EXPECT_EQ(a.outcome, GrabOutcome::kGranted);
  EXPECT_EQ(a.amount_cents, 3);
  const auto again = run(redpackets::grab(shards_, id_, 11));
  EXPECT_EQ(again.outcome, GrabOutcome::kAlreadyGrabbed);
  EXPECT_EQ(again.amount_cents, 3);
  const auto b = run(redpackets::grab(shards_, id_, 12));
  EXPECT_EQ(b.outcome, GrabOutcome::kGranted);
  EXPECT_EQ(b.amount_cents, 4);
  EXPECT_EQ(run(redpackets::grab(shards_, id_, 13)).outcome, GrabOutcome::kSoldOut);
  // A granted user still gets the answer after the sell-out.
  EXPECT_EQ(run(redpackets::grab(shards_, id_, 12)).amount_cents, 4);

  const auto counts = run(redpackets::counts(shards_, id_));
  ASSERT_TRUE(counts.has_value());
  EXPECT_EQ(counts->remaining, 0);
  EXPECT_EQ(counts->granted_count, 2);
  EXPECT_EQ(counts->granted_cents, 7);

  const auto records = run(entries(std::string(kRedpacketStream), "rp", id_));
  ASSERT_EQ(records.size(), 2U);
  EXPECT_EQ(records[0].get_int("user"), 11);
  EXPECT_EQ(records[0].get_int("amount"), 3);
  EXPECT_EQ(records[1].get_int("user"), 12);
  EXPECT_GE(records[1].get_int("at").value_or(0), now - 1000);
}

TEST_F(CampaignScriptsRedisTest, GrabChecksTheWindowWithTheShardClock) {
  const std::int64_t now = now_ms();
  ASSERT_TRUE(run(preload_rp(id_, {now + 60'000, now + 120'000, 1, 1}, {1})));
  EXPECT_EQ(run(redpackets::grab(shards_, id_, 1)).outcome, GrabOutcome::kNotStarted);
  ASSERT_TRUE(run(preload_rp(id_ + 1, {now - 2000, now - 1000, 1, 1}, {1})));
  EXPECT_EQ(run(redpackets::grab(shards_, id_ + 1, 1)).outcome, GrabOutcome::kEnded);
  EXPECT_EQ(run(redpackets::grab(shards_, id_ + 2, 1)).outcome, GrabOutcome::kUnknown);
  EXPECT_FALSE(run(redpackets::counts(shards_, id_ + 2)).has_value());
  EXPECT_TRUE(run(entries(std::string(kRedpacketStream), "rp", id_)).empty());
}

TEST_F(CampaignScriptsRedisTest, GrabSurvivesScriptFlush) {
  const std::int64_t now = now_ms();
  ASSERT_TRUE(run(preload_rp(id_, {now - 1000, now + 60'000, 2, 2}, {1, 1})));
  EXPECT_EQ(run(redpackets::grab(shards_, id_, 1)).outcome, GrabOutcome::kGranted);
  run([this]() -> asio::awaitable<bool> {
    co_await shards_.command(0, {"SCRIPT", "FLUSH"});
    co_return true;
  }());
  EXPECT_EQ(run(redpackets::grab(shards_, id_, 2)).outcome, GrabOutcome::kGranted);
}

// PEXPIRETIME of every key (-1 no expiry, -2 no key).
asio::awaitable<std::vector<std::int64_t>> expiry_of(redis::Shards& shards,
                                                     std::vector<std::string> keys) {
  std::vector<std::int64_t> out;
  for (auto& key : keys) {
    const redis::Reply r = co_await shards.command(0, {"PEXPIRETIME", key});
    out.push_back(r.as_integer());
  }
  co_return out;
}

TEST_F(CampaignScriptsRedisTest, RedPacketKeysLeaveTheShardTogetherAfterTheRetention) {
  const std::int64_t now = now_ms();
  const std::int64_t expires = now + 3'600'000;
  ASSERT_TRUE(run(preload_rp(id_, {now - 1000, now + 60'000, 2, 7, expires}, {3, 4})));
  const std::vector<std::string> keys{redpackets::meta_key(id_), redpackets::amounts_key(id_),
                                      redpackets::grabs_key(id_)};
  // No grab yet: the grabs hash does not exist.
  EXPECT_EQ(run(expiry_of(shards_, keys)), (std::vector<std::int64_t>{expires, expires, -2}));
  EXPECT_EQ(run(redpackets::grab(shards_, id_, 11)).outcome, GrabOutcome::kGranted);
  EXPECT_EQ(run(expiry_of(shards_, keys)), (std::vector<std::int64_t>{expires, expires, expires}));

  // Without a retention nothing expires.
  ASSERT_TRUE(run(preload_rp(id_ + 1, {now - 1000, now + 60'000, 1, 1}, {1})));
  EXPECT_EQ(run(redpackets::grab(shards_, id_ + 1, 11)).outcome, GrabOutcome::kGranted);
  EXPECT_EQ(
      run(expiry_of(shards_, {redpackets::meta_key(id_ + 1), redpackets::grabs_key(id_ + 1)})),
      (std::vector<std::int64_t>{-1, -1}));

  // An expiry already past: the campaign is gone from the shard at once.
  ASSERT_TRUE(run(preload_rp(id_ + 2, {now - 2000, now - 1000, 1, 1, now - 500}, {1})));
  EXPECT_EQ(run(redpackets::grab(shards_, id_ + 2, 11)).outcome, GrabOutcome::kUnknown);
  EXPECT_FALSE(run(redpackets::counts(shards_, id_ + 2)).has_value());
}

using Res = flashsales::Reservation::Outcome;

TEST_F(CampaignScriptsRedisTest, FlashSaleKeysLeaveTheShardTogetherAfterTheRetention) {
  const std::int64_t now = now_ms();
  const std::int64_t expires = now + 3'600'000;
  ASSERT_TRUE(run(preload_fs(id_, {now - 1000, now + 60'000, 5, 2, 990, 5, expires})));
  const auto ref = flashsales::make_order_ref(id_);
  ASSERT_EQ(run(flashsales::order(shards_, id_, 7, 1, ref, "key")).outcome, Res::kReserved);
  const std::vector<std::string> keys{flashsales::meta_key(id_), flashsales::users_key(id_),
                                      flashsales::refs_key(id_), flashsales::idem_key(id_)};
  EXPECT_EQ(run(expiry_of(shards_, keys)),
            (std::vector<std::int64_t>{expires, expires, expires, expires}));
  EXPECT_TRUE(run(flashsales::release(shards_, id_, 7, 1, ref)));
  EXPECT_EQ(run(expiry_of(shards_, {flashsales::failed_key(id_)})),
            (std::vector<std::int64_t>{expires}));
  // The release emptied the users hash (gone); the next reservation creates
  // it again, with the sale's expiry.
  ASSERT_EQ(run(flashsales::order(shards_, id_, 8, 1, flashsales::make_order_ref(id_), "")).outcome,
            Res::kReserved);
  EXPECT_EQ(run(expiry_of(shards_, {flashsales::users_key(id_)})),
            (std::vector<std::int64_t>{expires}));

  // A first reservation without a key, then one with a key: each hash gets
  // the expiry when it is created.
  const std::uint64_t plain = id_ + 2;
  ASSERT_TRUE(run(preload_fs(plain, {now - 1000, now + 60'000, 5, 2, 990, 5, expires})));
  ASSERT_EQ(
      run(flashsales::order(shards_, plain, 7, 1, flashsales::make_order_ref(plain), "")).outcome,
      Res::kReserved);
  const std::vector<std::string> plain_keys{
      flashsales::meta_key(plain), flashsales::users_key(plain), flashsales::refs_key(plain),
      flashsales::idem_key(plain)};
  EXPECT_EQ(run(expiry_of(shards_, plain_keys)),
            (std::vector<std::int64_t>{expires, expires, expires, -2}));
  ASSERT_EQ(
      run(flashsales::order(shards_, plain, 8, 1, flashsales::make_order_ref(plain), "k")).outcome,
      Res::kReserved);
  EXPECT_EQ(run(expiry_of(shards_, plain_keys)),
            (std::vector<std::int64_t>{expires, expires, expires, expires}));

  // Released after the sale left the shard: recorded as failed (for a day),
  // nothing given back, no key of the sale created again.
  const auto gone = flashsales::make_order_ref(id_ + 1);
  EXPECT_TRUE(run(flashsales::release(shards_, id_ + 1, 7, 1, gone)));
  EXPECT_TRUE(run(flashsales::ref_failed(shards_, id_ + 1, gone)));
  const auto left =
      run(expiry_of(shards_, {flashsales::failed_key(id_ + 1), flashsales::meta_key(id_ + 1),
                              flashsales::users_key(id_ + 1)}));
  EXPECT_GT(left[0], now + 23 * 3'600'000);
  EXPECT_LE(left[0], now_ms() + 24 * 3'600'000);
  EXPECT_EQ(left[1], -2);
  EXPECT_EQ(left[2], -2);
  EXPECT_EQ(run(flashsales::order(shards_, id_ + 1, 8, 1, flashsales::make_order_ref(id_ + 1), ""))
                .outcome,
            Res::kUnknown);
}

TEST_F(CampaignScriptsRedisTest, ReleaseGivesAFailedReservationsUnitsBackOnce) {
  const std::int64_t now = now_ms();
  ASSERT_TRUE(run(preload_fs(id_, {now - 1000, now + 60'000, 2, 2, 990, 5})));
  const auto ref = flashsales::make_order_ref(id_);
  ASSERT_EQ(run(flashsales::order(shards_, id_, 7, 2, ref, "")).outcome, Res::kReserved);
  EXPECT_EQ(run(flashsales::order(shards_, id_, 8, 1, flashsales::make_order_ref(id_), "")).outcome,
            Res::kSoldOut);
  EXPECT_FALSE(run(flashsales::ref_failed(shards_, id_, ref)));

  EXPECT_TRUE(run(flashsales::release(shards_, id_, 7, 2, ref)));
  EXPECT_TRUE(run(flashsales::ref_failed(shards_, id_, ref)));
  auto counts = run(flashsales::counts(shards_, id_));
  ASSERT_TRUE(counts.has_value());
  EXPECT_EQ(counts->remaining, 2);
  EXPECT_EQ(counts->reserved, 0);
  // A second release (a redelivered dead letter) changes nothing.
  EXPECT_FALSE(run(flashsales::release(shards_, id_, 7, 2, ref)));
  counts = run(flashsales::counts(shards_, id_));
  EXPECT_EQ(counts->remaining, 2);
  // The buyer's limit is back: the same user may reserve both units again.
  EXPECT_EQ(run(flashsales::order(shards_, id_, 7, 2, flashsales::make_order_ref(id_), "")).outcome,
            Res::kReserved);
}

TEST_F(CampaignScriptsRedisTest, ReservationChecksStockLimitAndIdempotency) {
  const std::int64_t now = now_ms();
  ASSERT_TRUE(run(preload_fs(id_, {now - 1000, now + 60'000, 3, 2, 990, 5})));
  const auto ref1 = flashsales::make_order_ref(id_);
  EXPECT_EQ(flashsales::sale_of_ref(ref1), id_);
  const auto a = run(flashsales::order(shards_, id_, 7, 1, ref1, "k"));
  EXPECT_EQ(a.outcome, Res::kReserved);
  EXPECT_EQ(a.order_ref, ref1);
  const auto repeated =
      run(flashsales::order(shards_, id_, 7, 1, flashsales::make_order_ref(id_), "k"));
  EXPECT_EQ(repeated.outcome, Res::kRepeated);
  EXPECT_EQ(repeated.order_ref, ref1);
  EXPECT_EQ(run(flashsales::order(shards_, id_, 7, 2, flashsales::make_order_ref(id_), "")).outcome,
            Res::kLimitExceeded);
  // The same key with another quantity: refused, naming the first order.
  const auto reused =
      run(flashsales::order(shards_, id_, 7, 2, flashsales::make_order_ref(id_), "k"));
  EXPECT_EQ(reused.outcome, Res::kKeyReused);
  EXPECT_EQ(reused.order_ref, ref1);
  // Over the limit is checked before the stock (3 > 2 remaining, 3 > limit 2).
  EXPECT_EQ(run(flashsales::order(shards_, id_, 8, 3, flashsales::make_order_ref(id_), "")).outcome,
            Res::kLimitExceeded);
  // More than is left (2 of 3), within the limit: refused, saying how many are.
  ASSERT_TRUE(run(preload_fs(id_ + 1, {now - 1000, now + 60'000, 1, 5, 990, 5})));
  const auto short_of =
      run(flashsales::order(shards_, id_ + 1, 8, 2, flashsales::make_order_ref(id_ + 1), ""));
  EXPECT_EQ(short_of.outcome, Res::kInsufficientStock);
  EXPECT_EQ(short_of.left, 1);
  EXPECT_EQ(run(flashsales::order(shards_, id_, 8, 2, flashsales::make_order_ref(id_), "")).outcome,
            Res::kReserved);
  EXPECT_EQ(run(flashsales::order(shards_, id_, 9, 1, flashsales::make_order_ref(id_), "")).outcome,
            Res::kSoldOut);
  const auto counts = run(flashsales::counts(shards_, id_));
  ASSERT_TRUE(counts.has_value());
  EXPECT_EQ(counts->remaining, 0);
  EXPECT_EQ(counts->reserved, 3);
  EXPECT_EQ(run(flashsales::ref_owner(shards_, id_, ref1)), std::optional<std::uint64_t>(7));
  EXPECT_FALSE(
      run(flashsales::ref_owner(shards_, id_, flashsales::make_order_ref(id_))).has_value());

  const auto records = run(entries(std::string(kFlashsaleStream), "fs", id_));
  ASSERT_EQ(records.size(), 2U);
  EXPECT_EQ(records[0].get("ref"), std::optional<std::string_view>(ref1));
  EXPECT_EQ(records[0].get_int("qty"), 1);
  EXPECT_EQ(records[0].get_int("price"), 990);
  EXPECT_EQ(records[1].get_int("user"), 8);
  EXPECT_EQ(records[1].get_int("qty"), 2);
}

TEST_F(CampaignScriptsRedisTest, ReservationWindow) {
  const std::int64_t now = now_ms();
  ASSERT_TRUE(run(preload_fs(id_, {now + 60'000, now + 120'000, 3, 2, 990, 5})));
  EXPECT_EQ(run(flashsales::order(shards_, id_, 7, 1, flashsales::make_order_ref(id_), "")).outcome,
            Res::kNotStarted);
  ASSERT_TRUE(run(preload_fs(id_ + 1, {now - 2000, now - 1000, 3, 2, 990, 5})));
  EXPECT_EQ(run(flashsales::order(shards_, id_ + 1, 7, 1, flashsales::make_order_ref(id_ + 1), ""))
                .outcome,
            Res::kEnded);
  EXPECT_EQ(run(flashsales::order(shards_, id_ + 2, 7, 1, flashsales::make_order_ref(id_ + 2), ""))
                .outcome,
            Res::kUnknown);
}

// --- queue_stats.hpp: the worker's lag, pending and trim points ------------

class QueueStatsRedisTest : public CampaignScriptsRedisTest {
 protected:
  std::string stream() const { return "queue-stats-test:" + std::to_string(id_); }
  asio::awaitable<std::vector<std::string>> add(std::size_t n) {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < n; ++i) {
      const redis::Reply r = co_await shards_.command(0, {"XADD", stream(), "*", "i", i});
      ids.push_back(r.as_string());
    }
    co_return ids;
  }
  asio::awaitable<bool> send(redis::Command c) {
    const redis::Reply r = co_await shards_.command(0, std::move(c));
    co_return !r.is_error();
  }
  QueueSample sample() { return run(sample_queue(shards_, 0, stream())); }
};

TEST_F(QueueStatsRedisTest, AbsentStreamIsEmpty) {
  const QueueSample s = sample();
  EXPECT_EQ(s.lag, 0);
  EXPECT_EQ(s.pending, 0);
  EXPECT_EQ(s.depth(), 0);
  EXPECT_TRUE(s.last_delivered.empty());
}

TEST_F(QueueStatsRedisTest, WithoutTheGroupEverythingIsLag) {
  run(add(3));
  const QueueSample s = sample();
  EXPECT_EQ(s.lag, 3);
  EXPECT_EQ(s.pending, 0);
  EXPECT_TRUE(s.last_delivered.empty());
}

// Redis 7.0's own `lag` comes from an entries-read counter that an AOF
// reload or a trim leaves wrong; ENTRIESREAD puts it in that state here.
TEST_F(QueueStatsRedisTest, LagIsCountedEvenWhenRedisCounterIsWrong) {
  const std::vector<std::string> ids = run(add(5));
  ASSERT_TRUE(run(send({"XGROUP", "CREATE", stream(), std::string(kGroup), "0"})));
  ASSERT_TRUE(run(send(
      {"XREADGROUP", "GROUP", std::string(kGroup), "c1", "COUNT", 2, "STREAMS", stream(), ">"})));
  ASSERT_TRUE(
      run(send({"XGROUP", "SETID", stream(), std::string(kGroup), ids[1], "ENTRIESREAD", 0})));
  QueueSample s = sample();
  EXPECT_EQ(s.lag, 3);
  EXPECT_EQ(s.pending, 2);
  EXPECT_EQ(s.depth(), 5);
  EXPECT_EQ(s.oldest_pending, ids[0]);
  EXPECT_EQ(s.last_delivered, ids[1]);
  EXPECT_GE(s.oldest_pending_age_ms(now_ms() + 50), 50);

  // Acknowledged and read to the end: nothing left, whatever Redis counts.
  ASSERT_TRUE(run(send({"XACK", stream(), std::string(kGroup), ids[0], ids[1]})));
  ASSERT_TRUE(run(send(
      {"XREADGROUP", "GROUP", std::string(kGroup), "c1", "COUNT", 10, "STREAMS", stream(), ">"})));
  ASSERT_TRUE(run(send({"XACK", stream(), std::string(kGroup), ids[2], ids[3], ids[4]})));
  ASSERT_TRUE(
      run(send({"XGROUP", "SETID", stream(), std::string(kGroup), ids[4], "ENTRIESREAD", 1})));
  s = sample();
  EXPECT_EQ(s.lag, 0);
  EXPECT_EQ(s.pending, 0);
  EXPECT_TRUE(s.oldest_pending.empty());
  EXPECT_EQ(s.oldest_pending_age_ms(now_ms()), 0);
  EXPECT_EQ(s.last_delivered, ids[4]);
}

TEST_F(QueueStatsRedisTest, LongBacklogIsBoundedByTheStreamLength) {
  const auto n = static_cast<std::size_t>(kExactLagUpTo + 200);
  std::vector<redis::Command> adds;
  for (std::size_t i = 0; i < n; ++i) {
    adds.push_back({"XADD", stream(), "*", "i", i});
  }
  run(shards_.pipeline(0, std::move(adds)));
  ASSERT_TRUE(run(send({"XGROUP", "CREATE", stream(), std::string(kGroup), "0"})));
  // A counter claiming more than the stream holds is clamped to its length.
  ASSERT_TRUE(run(send({"XGROUP", "SETID", stream(), std::string(kGroup), "0", "ENTRIESREAD", 0})));
  EXPECT_EQ(sample().lag, static_cast<std::int64_t>(n));
}

TEST_F(QueueStatsRedisTest, GaugesPublishTheSample) {
  QueueGauges gauges(registry_, {kRedpacketStream, kFlashsaleStream}, 2);
  QueueSample s;
  s.lag = 7;
  s.pending = 3;
  gauges.set(1, 1, s);
  EXPECT_EQ(gauges.total_depth(), 10);
  const std::string text = registry_.render();
  EXPECT_NE(text.find(R"(surge_queue_depth_entries{shard="1",stream="fs:stream"} 10)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(surge_queue_lag_entries{shard="0",stream="rp:stream"} 0)"),
            std::string::npos);
}

}  // namespace
}  // namespace surge::campaigns
