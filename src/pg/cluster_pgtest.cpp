// Live tests of the PostgreSQL layer against a real primary + streaming
// replica: started for this process by test_support::LocalServers (initdb,
// pg_basebackup -R, free ports, temp dir, torn down after), or taken from
// SURGE_TEST_PG_PRIMARY / SURGE_TEST_PG_REPLICA (tests that stop, pause or
// promote servers skip then).
//
// No sleeps: every wait is a condition polled against a deadline.

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <sys/socket.h>
#include <thread>
#include <type_traits>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "metrics/registry.hpp"
#include "pg/cluster.hpp"
#include "pg/connection.hpp"
#include "pg/migrate.hpp"
#include "pg/test_support/local_servers.hpp"

namespace surge::pg {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)
using test_support::LocalServers;

// A name no earlier run (against long-lived servers) has used.
std::string unique(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return fmt::format("{}_{}_{}", prefix, ::getpid(), counter.fetch_add(1));
}

// ---------------------------------------------------------------------------
// Fixture: the servers are shared by the whole suite (one process); every
// test gets its own io_context threads, registry and Cluster.
// ---------------------------------------------------------------------------
class PgClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      servers_ = new LocalServers();
    } catch (const std::exception& e) {
      setup_error_ = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete servers_;
    servers_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(servers_, nullptr) << setup_error_;
    for (int i = 0; i < 2; ++i) {
      ios_.push_back(std::make_unique<asio::io_context>(1));
      guards_.emplace_back(asio::make_work_guard(*ios_.back()));
    }
    for (auto& io : ios_) {
      threads_.emplace_back([p = io.get()] { p->run(); });
    }
  }

  void TearDown() override {
    if (cluster_) {
      cluster_->stop();
    }
    guards_.clear();
    for (auto& io : ios_) {
      io->stop();
    }
    for (auto& t : threads_) {
      t.join();
    }
    cluster_.reset();  // io_contexts stopped, still alive
    ios_.clear();
  }

  Settings settings() const {
    Settings s;
    s.primary = servers_->primary_uri();
    if (!servers_->replica_uri().empty()) {
      s.replicas.push_back(servers_->replica_uri());
    }
    s.connections_per_thread = 2;
    s.connect_timeout = 3s;
    s.query_timeout = 10s;
    s.health_interval = 50ms;
    s.max_replica_lag = 60s;  // tests pause replay; the lag test lowers it
    return s;
  }

  Cluster& start(Settings s) {
    cluster_ = std::make_unique<Cluster>(std::move(s), io_list(), registry_);
    cluster_->start();
    return *cluster_;
  }

  std::vector<asio::io_context*> io_list() const {
    std::vector<asio::io_context*> out;
    for (const auto& io : ios_) {
      out.push_back(io.get());
    }
    return out;
  }

  // Runs a coroutine on I/O thread `thread` and waits for its result. A
  // failure comes back as a value and is rethrown here as a copy: an
  // exception object shared across threads through std::future /
  // exception_ptr is reference-counted inside the (uninstrumented) C++
  // runtime, which TSan reports as a race.
  template <typename T>
  T run(asio::awaitable<T> aw, std::size_t thread = 0) {
    auto f = asio::co_spawn(*ios_.at(thread), guarded(std::move(aw)), asio::use_future);
    if (f.wait_for(60s) != std::future_status::ready) {
      throw std::runtime_error("coroutine did not finish in 60 s");
    }
    Outcome<T> out = f.get();
    if (out.pg_error) {
      throw Error(*out.pg_error);
    }
    if (out.other_error) {
      throw std::runtime_error(*out.other_error);
    }
    if constexpr (!std::is_void_v<T>) {
      return std::move(*out.value);
    }
  }

  template <typename T>
  struct Outcome {
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
    std::optional<Error> pg_error;
    std::optional<std::string> other_error;
  };

  template <typename T>
  static asio::awaitable<Outcome<T>> guarded(asio::awaitable<T> aw) {
    Outcome<T> out;
    try {
      if constexpr (std::is_void_v<T>) {
        co_await std::move(aw);
        out.value.emplace(true);
      } else {
        out.value.emplace(co_await std::move(aw));
      }
    } catch (const Error& e) {
      out.pg_error.emplace(e);
    } catch (const std::exception& e) {
      out.other_error.emplace(e.what());
    }
    co_return out;
  }

  static bool wait_until(const std::function<bool()>& pred,
                         std::chrono::milliseconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) {
        return true;
      }
      std::this_thread::sleep_for(10ms);  // polling interval, not a wait for an event
    }
    return pred();
  }

  bool replica_in_rotation() const {
    const auto r = cluster_->replica_states();
    return !r.empty() && r.front().in_rotation;
  }

  bool has_replica() const { return !servers_->replica_uri().empty(); }

  static LocalServers* servers_;
  static std::string setup_error_;

  // Declared first: outlives the io_contexts, whose destruction may finish
  // suspended work that still records metrics.
  metrics::Registry registry_;
  std::vector<std::unique_ptr<asio::io_context>> ios_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::unique_ptr<Cluster> cluster_;
};

LocalServers* PgClusterTest::servers_ = nullptr;
std::string PgClusterTest::setup_error_;

asio::awaitable<bool> recovery_of_read(Cluster& c, Lsn min_lsn) {
  const Result r = co_await c.read("SELECT pg_is_in_recovery()", {}, min_lsn);
  co_return r.get<bool>(0, 0);
}

// ---------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------

TEST_F(PgClusterTest, ReadsGoToTheReplicaAndWritesToThePrimary) {
  if (!has_replica()) {
    GTEST_SKIP() << "no replica";
  }
  Cluster& c = start(settings());
  ASSERT_TRUE(wait_until([&] { return replica_in_rotation(); }));
  for (std::size_t t = 0; t < 2; ++t) {
    EXPECT_TRUE(run(recovery_of_read(c, 0), t)) << "read served by the replica, thread " << t;
    EXPECT_FALSE(run(c.write("SELECT pg_is_in_recovery()", {}), t).get<bool>(0, 0));
  }
  EXPECT_FALSE(run(recovery_of_read(c, kPrimaryLsn))) << "kPrimaryLsn forces the primary";

  const NodeState p = c.primary_state();
  EXPECT_EQ(p.name, "primary");
  EXPECT_EQ(p.health, Health::kUp);
  EXPECT_GT(p.lsn, 0U);
  EXPECT_EQ(p.address, fmt::format("127.0.0.1:{}", servers_->primary_port()))
      << "(with servers from the environment the address may differ)";
  const auto replicas = c.replica_states();
  ASSERT_EQ(replicas.size(), 1U);
  EXPECT_EQ(replicas[0].name, "replica-0");
  EXPECT_EQ(replicas[0].health, Health::kUp);
  EXPECT_GE(replicas[0].lag_ms, 0);
  EXPECT_GT(replicas[0].lsn, 0U);
  EXPECT_EQ(replicas[0].error, "");

  const std::string m = registry_.render();
  for (const char* name :
       {"surge_pg_queries_total", "surge_pg_query_duration_seconds", "surge_pg_pool_in_use",
        "surge_pg_pool_waits_total", "surge_pg_replica_lag_seconds", "surge_pg_node_up"}) {
    EXPECT_NE(m.find(name), std::string::npos) << name;
  }
  EXPECT_NE(m.find(R"(surge_pg_queries_total{kind="read",node="replica-0"} 2)"), std::string::npos)
      << m;
}

TEST_F(PgClusterTest, ReadYourWritesWhileReplayIsPaused) {
  if (!has_replica()) {
    GTEST_SKIP() << "no replica";
  }
  Cluster& c = start(settings());
  const std::string t = unique("ryw");
  run(c.write(fmt::format("CREATE TABLE {} (id int PRIMARY KEY)", t), {}));
  const WriteResult created =
      run(c.transaction({{fmt::format("INSERT INTO {} VALUES (0)", t), {}}}));
  ASSERT_GT(created.lsn, 0U);
  ASSERT_TRUE(wait_until(
      [&] { return replica_in_rotation() && c.replica_states().front().lsn >= created.lsn; }));

  const std::string replica = servers_->replica_uri();
  LocalServers::query(replica, "SELECT pg_wal_replay_pause()");
  struct Resume {
    std::string uri;
    ~Resume() {
      try {
        LocalServers::query(uri, "SELECT pg_wal_replay_resume()");
      } catch (...) {  // NOLINT(bugprone-empty-catch): the test already failed
      }
    }
  } resume{replica};
  ASSERT_TRUE(wait_until([&] {
    return LocalServers::query(replica, "SELECT pg_get_wal_replay_pause_state()") == "paused";
  }));

  const WriteResult w = run(c.transaction({{fmt::format("INSERT INTO {} VALUES (1)", t), {}}}));
  ASSERT_GT(w.lsn, created.lsn);
  c.note_write(42, w.lsn);
  ASSERT_EQ(c.user_min_lsn(42), w.lsn);
  EXPECT_EQ(c.user_min_lsn(43), 0U);

  const std::string sql =
      fmt::format("SELECT pg_is_in_recovery(), (SELECT count(*) FROM {} WHERE id = 1)", t);
  // The writer's read: the replica has not replayed the write → the primary.
  const Result mine = run(c.read(sql, {}, c.user_min_lsn(42)));
  EXPECT_FALSE(mine.get<bool>(0, 0));
  EXPECT_EQ(mine.get<std::int64_t>(0, 1), 1);
  // Anyone else's read: the replica, which does not have the row yet.
  const Result other = run(c.read(sql, {}, c.user_min_lsn(43)));
  EXPECT_TRUE(other.get<bool>(0, 0));
  EXPECT_EQ(other.get<std::int64_t>(0, 1), 0);

  LocalServers::query(replica, "SELECT pg_wal_replay_resume()");
  ASSERT_TRUE(wait_until([&] { return c.replica_states().front().lsn >= w.lsn; }));
  // Replayed: the writer's reads may use the replica again.
  const Result later = run(c.read(sql, {}, w.lsn));
  EXPECT_TRUE(later.get<bool>(0, 0));
  EXPECT_EQ(later.get<std::int64_t>(0, 1), 1);
}

TEST_F(PgClusterTest, AReplicaLaggingBeyondTheBoundLeavesTheRotation) {
  if (!has_replica()) {
    GTEST_SKIP() << "no replica";
  }
  Settings s = settings();
  s.max_replica_lag = 300ms;
  Cluster& c = start(s);
  ASSERT_TRUE(wait_until([&] { return replica_in_rotation(); }));
  // Idle for longer than the bound: an idle replica that has everything is
  // never lagging.
  EXPECT_FALSE(wait_until([&] { return !replica_in_rotation(); }, 600ms));
  EXPECT_EQ(c.replica_states().front().lag_ms, 0);

  const std::string replica = servers_->replica_uri();
  LocalServers::query(replica, "SELECT pg_wal_replay_pause()");
  struct Resume {
    std::string uri;
    ~Resume() {
      try {
        LocalServers::query(uri, "SELECT pg_wal_replay_resume()");
      } catch (...) {  // NOLINT(bugprone-empty-catch): the test already failed
      }
    }
  } resume{replica};
  run(c.write(fmt::format("CREATE TABLE {} (id int)", unique("lag")), {}));
  ASSERT_TRUE(wait_until([&] { return c.replica_states().front().health == Health::kLagging; }));
  EXPECT_FALSE(replica_in_rotation());
  EXPECT_GT(c.replica_states().front().lag_ms, 300);
  EXPECT_FALSE(run(recovery_of_read(c, 0))) << "a lagging replica serves no reads";

  LocalServers::query(replica, "SELECT pg_wal_replay_resume()");
  ASSERT_TRUE(wait_until([&] { return replica_in_rotation(); }));
  EXPECT_TRUE(run(recovery_of_read(c, 0)));
}

TEST_F(PgClusterTest, ReplicaDownSendsReadsToThePrimaryUntilItIsBack) {
  if (!has_replica() || !servers_->owned()) {
    GTEST_SKIP() << "needs a replica this test may stop";
  }
  Cluster& c = start(settings());
  ASSERT_TRUE(wait_until([&] { return replica_in_rotation(); }));
  // Warm connections in both threads' replica pools: they go stale below.
  for (std::size_t t = 0; t < 2; ++t) {
    ASSERT_TRUE(run(recovery_of_read(c, 0), t));
  }

  servers_->stop_replica();
  struct Restart {
    LocalServers* s;
    bool armed = true;
    ~Restart() {
      if (armed) {
        try {
          s->start_replica();
        } catch (...) {  // NOLINT(bugprone-empty-catch): the test already failed
        }
      }
    }
  } restart{servers_};
  // No read fails: a stale replica connection's error is retried on the
  // primary, and the replica leaves the rotation.
  for (int i = 0; i < 6; ++i) {
    EXPECT_FALSE(run(recovery_of_read(c, 0), static_cast<std::size_t>(i % 2))) << i;
  }
  ASSERT_TRUE(wait_until([&] { return c.replica_states().front().health == Health::kDown; }));
  EXPECT_FALSE(c.replica_states().front().error.empty());
  EXPECT_NE(registry_.render().find(R"(surge_pg_node_up{node="replica-0"} 0)"), std::string::npos);

  restart.armed = false;
  servers_->start_replica();
  ASSERT_TRUE(wait_until([&] { return replica_in_rotation(); }));
  for (std::size_t t = 0; t < 2; ++t) {
    EXPECT_TRUE(run(recovery_of_read(c, 0), t)) << "back in the rotation, thread " << t;
  }
}

TEST_F(PgClusterTest, MultiHostPrimaryFindsTheWritableHost) {
  if (!has_replica() || !servers_->owned()) {
    GTEST_SKIP() << "needs local servers";
  }
  Settings s = settings();
  // The standby first: libpq must skip it (target_session_attrs) — a
  // connect that changes sockets midway.
  s.primary = fmt::format(
      "postgresql://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write"
      "&sslmode=disable",
      servers_->replica_port(), servers_->primary_port());
  Cluster& c = start(s);
  for (std::size_t t = 0; t < 2; ++t) {
    EXPECT_FALSE(run(c.write("SELECT pg_is_in_recovery()", {}), t).get<bool>(0, 0));
  }
  ASSERT_TRUE(wait_until([&] { return c.primary_state().health == Health::kUp; }));
  EXPECT_EQ(c.primary_state().address, fmt::format("127.0.0.1:{}", servers_->primary_port()));
}

// ---------------------------------------------------------------------------
// Errors, transactions
// ---------------------------------------------------------------------------

template <typename F>
std::optional<Error> error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  return std::nullopt;
}

TEST_F(PgClusterTest, ErrorsAreTypedBySqlstate) {
  Cluster& c = start(settings());
  const std::string t = unique("typed");
  run(c.write(fmt::format("CREATE TABLE {} (name text CONSTRAINT {}_name_key UNIQUE, "
                          "n int CONSTRAINT {}_n_check CHECK (n > 0))",
                          t, t, t),
              {}));
  const std::string insert = fmt::format("INSERT INTO {} (name, n) VALUES ($1, $2)", t);
  EXPECT_EQ(run(c.write(insert, params("a", 1))).affected(), 1U);

  const auto dup = error_of([&] { run(c.write(insert, params("a", 2))); });
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->error_class(), Error::Class::kUniqueViolation);
  EXPECT_EQ(dup->sqlstate(), "23505");
  EXPECT_EQ(dup->constraint(), t + "_name_key");

  const auto check = error_of([&] { run(c.write(insert, params("b", -1))); });
  ASSERT_TRUE(check);
  EXPECT_EQ(check->error_class(), Error::Class::kCheckViolation);
  EXPECT_EQ(check->constraint(), t + "_n_check");

  const auto missing = error_of([&] { run(c.read("SELECT * FROM no_such_table_here", {})); });
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->error_class(), Error::Class::kUndefinedTable);

  const auto syntax = error_of([&] { run(c.write("SELEC 1", {})); });
  ASSERT_TRUE(syntax);
  EXPECT_EQ(syntax->error_class(), Error::Class::kOther);
  EXPECT_EQ(syntax->sqlstate(), "42601");

  if (has_replica()) {
    ASSERT_TRUE(wait_until([&] { return replica_in_rotation(); }));
    // The replica must have replayed the CREATE TABLE first, or the insert
    // fails as an undefined table instead of as a read-only transaction.
    ASSERT_TRUE(wait_until([&] {
      return !error_of([&] { run(c.read("SELECT count(*) FROM " + t, {})); }).has_value();
    }));
    const auto ro = error_of([&] { run(c.read(insert, params("c", 1))); });
    ASSERT_TRUE(ro);
    EXPECT_EQ(ro->error_class(), Error::Class::kReadOnly) << ro->what();
  }
  // The connection that saw the errors is still good.
  EXPECT_EQ(run(c.write("SELECT 7", {})).get<std::int64_t>(0, 0), 7);
  EXPECT_NE(registry_.render().find(
                R"(surge_pg_errors_total{class="unique_violation",node="primary"} 1)"),
            std::string::npos)
      << registry_.render();
}

TEST_F(PgClusterTest, TransactionsCommitTogetherOrRollBack) {
  Cluster& c = start(settings());
  const std::string t = unique("tx");
  run(c.write(fmt::format("CREATE TABLE {} (id int PRIMARY KEY)", t), {}));
  const std::string insert = fmt::format("INSERT INTO {} VALUES ($1) RETURNING id", t);
  const std::string count = fmt::format("SELECT count(*) FROM {}", t);

  const auto err = error_of([&] {
    run(c.transaction({{insert, params(1)}, {insert, params(2)}, {insert, params(1)}}));
  });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->error_class(), Error::Class::kUniqueViolation);
  EXPECT_EQ(run(c.read(count, {}, kPrimaryLsn)).get<std::int64_t>(0, 0), 0) << "rolled back";

  const WriteResult w = run(c.transaction({{insert, params(1)}, {insert, params(2)}}));
  ASSERT_EQ(w.results.size(), 2U);
  EXPECT_EQ(w.results[1].get<std::int64_t>(0, 0), 2);
  EXPECT_GT(w.lsn, 0U);
  EXPECT_EQ(run(c.read(count, {}, kPrimaryLsn)).get<std::int64_t>(0, 0), 2);
  // No session was left inside a transaction.
  EXPECT_TRUE(wait_until([&] {
    return LocalServers::query(servers_->primary_uri(),
                               "SELECT count(*) FROM pg_stat_activity WHERE state LIKE "
                               "'idle in transaction%'") == "0";
  }));
}

asio::awaitable<Lsn> commit_two_inserts(Cluster& c, std::string insert, std::string count) {
  Transaction tx = co_await c.begin();
  co_await tx.execute(insert, params(10));
  co_await tx.execute(insert, params(11));
  // The transaction sees its own rows.
  const Result seen = co_await tx.execute(count);
  EXPECT_EQ(seen.get<std::int64_t>(0, 0), 2);
  co_return co_await tx.commit();
}

asio::awaitable<void> roll_back_insert(Cluster& c, std::string insert) {
  Transaction tx = co_await c.begin();
  co_await tx.execute(insert, params(20));
  co_await tx.rollback();
  EXPECT_FALSE(tx.active());
}

asio::awaitable<Error::Class> fail_inside(Cluster& c, std::string insert) {
  Transaction tx = co_await c.begin();
  co_await tx.execute(insert, params(30));
  Error::Class cls = Error::Class::kOther;
  try {
    co_await tx.execute(insert, params(30));
  } catch (const Error& e) {
    cls = e.error_class();
  }
  EXPECT_FALSE(tx.active());
  bool logic_error = false;
  try {
    co_await tx.execute(insert, params(31));
  } catch (const std::logic_error&) {
    logic_error = true;
  }
  EXPECT_TRUE(logic_error);
  co_return cls;
}

asio::awaitable<void> abandon_open(Cluster& c, std::string insert) {
  Transaction tx = co_await c.begin();
  co_await tx.execute(insert, params(40));
}  // destroyed while open: rolled back in the background

TEST_F(PgClusterTest, InteractiveTransactions) {
  Cluster& c = start(settings());
  const std::string t = unique("itx");
  run(c.write(fmt::format("CREATE TABLE {} (id int PRIMARY KEY)", t), {}));
  const std::string insert = fmt::format("INSERT INTO {} VALUES ($1)", t);
  const std::string count = fmt::format("SELECT count(*) FROM {}", t);
  auto rows = [&] { return run(c.read(count, {}, kPrimaryLsn)).get<std::int64_t>(0, 0); };

  EXPECT_GT(run(commit_two_inserts(c, insert, count)), 0U);
  EXPECT_EQ(rows(), 2);
  run(roll_back_insert(c, insert));
  EXPECT_EQ(rows(), 2);
  EXPECT_EQ(run(fail_inside(c, insert), 1), Error::Class::kUniqueViolation);
  EXPECT_EQ(rows(), 2);
  run(abandon_open(c, insert));
  EXPECT_EQ(rows(), 2);
  EXPECT_TRUE(wait_until([&] {
    return LocalServers::query(servers_->primary_uri(),
                               "SELECT count(*) FROM pg_stat_activity WHERE state LIKE "
                               "'idle in transaction%'") == "0";
  }));
  // A transaction driven from a thread outside the cluster's io_contexts.
  Transaction tx = run(c.begin());
  run(tx.execute(insert, params(50)));
  EXPECT_GT(run(tx.commit()), 0U);
  EXPECT_EQ(rows(), 3);
}

// ---------------------------------------------------------------------------
// Concurrency, pool, timeouts, prepared statements, pipelines
// ---------------------------------------------------------------------------

asio::awaitable<void> hammer(Cluster& c, std::string table, int user) {
  const std::string bump = fmt::format("UPDATE {} SET n = n + 1 WHERE id = 1", table);
  co_await c.write(bump, {});
  const WriteResult w = co_await c.transaction(Statement{bump, {}});
  c.note_write(static_cast<std::uint64_t>(user), w.lsn);
  const Result r = co_await c.read(fmt::format("SELECT n FROM {} WHERE id = 1", table), {},
                                   c.user_min_lsn(static_cast<std::uint64_t>(user)));
  EXPECT_GE(r.get<std::int64_t>(0, 0), 2);
}

TEST_F(PgClusterTest, ConcurrentWorkFromTwoIoThreads) {
  Cluster& c = start(settings());
  const std::string t = unique("conc");
  run(c.write(fmt::format("CREATE TABLE {} (id int PRIMARY KEY, n bigint NOT NULL)", t), {}));
  run(c.write(fmt::format("INSERT INTO {} VALUES (1, 0)", t), {}));
  constexpr int kPerThread = 150;
  std::vector<std::future<void>> done;
  for (int i = 0; i < 2 * kPerThread; ++i) {
    done.push_back(
        asio::co_spawn(*ios_[static_cast<std::size_t>(i % 2)], hammer(c, t, i), asio::use_future));
  }
  for (auto& f : done) {
    ASSERT_EQ(f.wait_for(60s), std::future_status::ready);
    f.get();
  }
  EXPECT_EQ(run(c.read(fmt::format("SELECT n FROM {} WHERE id = 1", t), {}, kPrimaryLsn))
                .get<std::int64_t>(0, 0),
            4 * kPerThread);
  const std::string m = registry_.render();
  EXPECT_NE(m.find(R"(surge_pg_pool_in_use{node="primary"} 0)"), std::string::npos) << m;
  EXPECT_NE(m.find(R"(surge_pg_pool_size{node="primary"} 4)"), std::string::npos) << m;
  EXPECT_EQ(m.find(R"(surge_pg_pool_waits_total{node="primary"} 0)"), std::string::npos)
      << "300 coroutines on 2x2 connections must have waited";
}

TEST_F(PgClusterTest, AQueryTimeoutCancelsTheQueryOnTheServer) {
  Settings s = settings();
  s.query_timeout = 300ms;
  Cluster& c = start(s);
  const std::string marker = unique("sleep");
  const std::string sql = fmt::format("SELECT pg_sleep(30), '{}'", marker);
  const auto start_time = std::chrono::steady_clock::now();
  const auto err = error_of([&] { run(c.write(sql, {})); });
  const auto took = std::chrono::steady_clock::now() - start_time;
  ASSERT_TRUE(err);
  EXPECT_EQ(err->error_class(), Error::Class::kQueryCanceled) << err->what();
  EXPECT_LT(took, 5s);
  // The server stopped running it (PQcancel from a helper thread).
  EXPECT_TRUE(wait_until([&] {
    return LocalServers::query(servers_->primary_uri(),
                               fmt::format("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                                           "'SELECT pg_sleep(30), ''{}''' AND state = 'active'",
                                           marker)) == "0";
  }));
  EXPECT_EQ(run(c.write("SELECT 1", {})).get<std::int64_t>(0, 0), 1) << "the pool recovered";
}

TEST_F(PgClusterTest, StatementsArePreparedOncePerConnection) {
  Settings s = settings();
  s.connections_per_thread = 1;
  Cluster& c = start(s);
  const std::string sql = "SELECT $1::int + 1";
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(run(c.write(sql, params(i))).get<std::int64_t>(0, 0), i + 1);
  }
  const Result r = run(c.write(
      "SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT $1::int + 1'", {}));
  EXPECT_EQ(r.get<std::int64_t>(0, 0), 1);
}

asio::awaitable<void> pipeline_checks(asio::io_context& io, std::string uri) {
  Connection conn(io, uri, "test");
  const auto deadline = Clock::now() + 20s;
  co_await conn.connect(deadline);
  EXPECT_TRUE(conn.usable());

  // Two segments: an error in the second skips the rest of it only.
  const std::vector<Statement> st{
      {"SELECT 1", {}}, {"SELECT 1/0", {}}, {"SELECT 3", {}}, {"SELECT $1::text", params("four")}};
  const std::array<std::size_t, 1> syncs{0};
  PipelineOutcome out = co_await conn.pipeline(st, syncs, deadline);
  EXPECT_EQ(out.results[0].get<std::int64_t>(0, 0), 1);
  EXPECT_TRUE(out.error);
  EXPECT_EQ(out.failed, 1U);
  EXPECT_EQ(out.error ? out.error->sqlstate() : "", "22012");
  EXPECT_EQ(out.results[2].rows(), 0U) << "skipped";
  EXPECT_TRUE(conn.usable()) << "a statement error leaves the connection usable";

  // Many statements, one round trip.
  std::vector<Statement> many;
  for (int i = 0; i < 200; ++i) {
    many.push_back({"SELECT $1::int * 2", params(i)});
  }
  const std::vector<Result> rs = co_await conn.execute_batch(many, deadline);
  EXPECT_EQ(rs.size(), 200U);
  EXPECT_EQ(rs.back().get<std::int64_t>(0, 0), 398);
  // "SELECT 1", "SELECT 1/0" (its Prepare succeeded; its execution failed)
  // and "$1::int * 2"; the Prepares skipped after the error do not count.
  EXPECT_EQ(conn.prepared_count(), 3U);

  // A parameter larger than the socket buffers (PQflush returns 1) and a
  // result spanning many reads.
  const std::string big(8 << 20, 'x');
  const Result len = co_await conn.execute("SELECT length($1)", params(big), deadline);
  EXPECT_EQ(len.get<std::int64_t>(0, 0), 8 << 20);
  const Result wide = co_await conn.execute(
      "SELECT repeat('y', 1000000) FROM generate_series(1, 20)", {}, deadline);
  EXPECT_EQ(wide.rows(), 20U);
  EXPECT_EQ(wide.get<std::string_view>(19, 0).size(), 1000000U);
  EXPECT_TRUE(conn.usable());
}

TEST_F(PgClusterTest, PipelinesSegmentsAndLargeMessages) {
  run(pipeline_checks(*ios_[0], servers_->primary_uri()));
}

asio::awaitable<void> connect_refused(asio::io_context& io, std::uint16_t port) {
  Connection conn(io, fmt::format("postgresql://postgres@127.0.0.1:{}/postgres", port), "nowhere");
  Error::Class cls = Error::Class::kOther;
  try {
    co_await conn.connect(Clock::now() + 5s);
  } catch (const Error& e) {
    cls = e.error_class();
  }
  EXPECT_EQ(cls, Error::Class::kConnection);
  EXPECT_FALSE(conn.usable());
}

TEST_F(PgClusterTest, ConnectionErrorsAreTyped) {
  // A port nothing listens on (bound and released just now).
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  run(connect_refused(*ios_[0], ntohs(addr.sin_port)));

  Settings s = settings();
  s.primary = fmt::format("postgresql://postgres@127.0.0.1:{}/postgres", ntohs(addr.sin_port));
  s.replicas.clear();
  Cluster& c = start(s);
  const auto err = error_of([&] { run(c.write("SELECT 1", {})); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->error_class(), Error::Class::kConnection);
  ASSERT_TRUE(wait_until([&] { return !c.primary_state().error.empty(); }));
  EXPECT_EQ(c.primary_state().health, Health::kDown);
}

TEST_F(PgClusterTest, CallsFromOtherThreadsHopToAnIoThread) {
  Cluster& c = start(settings());
  asio::io_context foreign(1);
  auto f = asio::co_spawn(foreign, c.write("SELECT 5", {}), asio::use_future);
  foreign.run();
  EXPECT_EQ(f.get().get<std::int64_t>(0, 0), 5);
}

TEST_F(PgClusterTest, StopRefusesNewWork) {
  Cluster& c = start(settings());
  EXPECT_EQ(run(c.write("SELECT 1", {})).get<std::int64_t>(0, 0), 1);
  c.stop();
  const auto err = error_of([&] { run(c.write("SELECT 1", {})); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->error_class(), Error::Class::kConnection);
}

// ---------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------

std::string tables_of(const std::string& uri) {
  return LocalServers::query(uri,
                             "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM "
                             "information_schema.tables WHERE table_schema = 'public'");
}

TEST_F(PgClusterTest, MigrationsApplyOnceAndServeRefusesAnUnmigratedDatabase) {
  const std::string uri = servers_->create_database(unique("migrate"));
  const auto before = check_schema(uri);
  ASSERT_TRUE(before);
  EXPECT_NE(before->find("not migrated"), std::string::npos) << *before;
  EXPECT_NE(before->find("surge migrate"), std::string::npos) << *before;

  const auto embedded = embedded_migrations();
  const int latest = embedded.back().version;
  std::vector<std::string> all;
  for (const Migration& m : embedded) {
    all.push_back(fmt::format("{:04}_{}", m.version, m.name));
  }
  const MigrateReport first = migrate(uri);
  EXPECT_EQ(first.applied, all);
  EXPECT_EQ(first.applied.front(), "0001_init");
  EXPECT_EQ(first.version, latest);
  EXPECT_EQ(check_schema(uri), std::nullopt);
  const std::string schema = tables_of(uri);
  EXPECT_NE(schema.find("users"), std::string::npos) << schema;
  EXPECT_NE(schema.find("flashsale_orders"), std::string::npos) << schema;

  const MigrateReport again = migrate(uri);
  EXPECT_TRUE(again.applied.empty());
  EXPECT_EQ(again.version, latest);
  EXPECT_EQ(tables_of(uri), schema);
  EXPECT_EQ(LocalServers::query(uri, "SELECT count(*) FROM schema_migrations"),
            std::to_string(embedded.size()));

  // A newer binary's migration is pending for this database.
  std::vector<Migration> newer(embedded.begin(), embedded.end());
  newer.push_back({latest + 1, "extra", "CREATE TABLE extra (id int);\n"});
  const auto pending = check_schema(uri, newer);
  ASSERT_TRUE(pending);
  EXPECT_NE(pending->find(fmt::format("{:04}_extra", latest + 1)), std::string::npos) << *pending;

  // A failing migration is rolled back entirely; earlier ones stay.
  std::vector<Migration> failing = newer;
  failing.push_back(
      {latest + 2, "broken", "CREATE TABLE half (id int);\nSELECT * FROM nowhere;\n"});
  const auto err = error_of([&] { migrate(uri, failing); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->error_class(), Error::Class::kUndefinedTable);
  EXPECT_EQ(LocalServers::query(uri, "SELECT to_regclass('half') IS NULL"), "t");
  EXPECT_EQ(LocalServers::query(uri, "SELECT max(version) FROM schema_migrations"),
            std::to_string(latest + 1));

  // An applied migration whose text changed is refused.
  const std::vector<Migration> edited{{1, "init", "SELECT 1;\n"}};
  EXPECT_THROW(migrate(uri, edited), MigrationError);
  const auto mismatch = check_schema(uri, edited);
  ASSERT_TRUE(mismatch);
  EXPECT_NE(mismatch->find("different content"), std::string::npos) << *mismatch;
}

TEST_F(PgClusterTest, RedPacketAmountRowsBecomeOneOrderedArray) {
  // A database at 0001 with amounts stored a row per packet (inserted out of
  // order) keeps every amount, in seq order, after 0002.
  const std::string uri = servers_->create_database(unique("migrate_amounts"));
  const auto embedded = embedded_migrations();
  ASSERT_GE(embedded.size(), 2U);
  ASSERT_EQ(embedded[1].name, "redpacket_amounts_array");
  migrate(uri, std::vector<Migration>{embedded[0]});
  LocalServers::query(uri,
                      "INSERT INTO redpackets (id, total_cents, count, starts_at, ends_at) VALUES "
                      "(7, 60, 3, now(), now() + interval '1 hour'), "
                      "(8, 5, 1, now(), now() + interval '1 hour'), "
                      "(9, 5, 1, now(), now() + interval '1 hour')");
  LocalServers::query(uri,
                      "INSERT INTO redpacket_amounts (redpacket_id, seq, amount_cents) VALUES "
                      "(7, 2, 30), (7, 0, 10), (8, 0, 5), (7, 1, 20)");
  const MigrateReport report = migrate(uri, std::vector<Migration>{embedded[0], embedded[1]});
  EXPECT_EQ(report.applied, std::vector<std::string>{"0002_redpacket_amounts_array"});
  EXPECT_EQ(LocalServers::query(uri,
                                "SELECT string_agg(redpacket_id || ':' || amounts::text, ' ' "
                                "ORDER BY redpacket_id) FROM redpacket_amount_lists"),
            "7:{10,20,30} 8:{5}");
  EXPECT_EQ(LocalServers::query(uri, "SELECT to_regclass('redpacket_amounts') IS NULL"), "t");
  // The invariants hold for new rows: no empty list, no amount below 1 cent.
  for (const char* bad : {"'{}'", "'{3,0}'", "'{3,NULL}'"}) {
    try {
      LocalServers::query(uri,
                          fmt::format("INSERT INTO redpacket_amount_lists VALUES (9, {})", bad));
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("_check"), std::string::npos) << e.what();
    }
  }
}

TEST_F(PgClusterTest, ConcurrentMigratorsApplyEachMigrationOnce) {
  const std::string uri = servers_->create_database(unique("migrate_race"));
  std::vector<std::future<MigrateReport>> runs;
  for (int i = 0; i < 4; ++i) {
    runs.push_back(std::async(std::launch::async, [uri] { return migrate(uri); }));
  }
  std::size_t applied = 0;
  for (auto& r : runs) {
    applied += r.get().applied.size();
  }
  EXPECT_EQ(applied, embedded_migrations().size());
  EXPECT_EQ(LocalServers::query(uri, "SELECT count(*) FROM schema_migrations"),
            std::to_string(embedded_migrations().size()));
}

// ---------------------------------------------------------------------------
// Failover (own servers: this one promotes the standby)
// ---------------------------------------------------------------------------

TEST_F(PgClusterTest, APromotedStandbyIsFollowed) {
  if (!servers_->owned()) {
    GTEST_SKIP() << "needs servers this test may stop and promote";
  }
  LocalServers own;
  Settings s = settings();
  s.primary = fmt::format(
      "postgresql://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write"
      "&sslmode=disable",
      own.primary_port(), own.replica_port());
  s.replicas = {own.replica_uri()};
  s.connect_timeout = 2s;
  s.query_timeout = 3s;
  Cluster& c = start(s);
  run(c.write("CREATE TABLE failover (id int PRIMARY KEY)", {}));
  const WriteResult first = run(c.transaction(Statement{"INSERT INTO failover VALUES (1)"}));
  // Replication is asynchronous: kill the primary only once the standby has
  // the row, or the promoted standby legitimately lacks it.
  ASSERT_TRUE(wait_until(
      [&] { return replica_in_rotation() && c.replica_states().front().lsn >= first.lsn; }));

  own.stop_primary();
  own.promote_replica();
  // Writes fail until the dead primary's connections are dropped; then the
  // multi-host conninfo lands on the promoted standby.
  ASSERT_TRUE(wait_until([&] {
    return !error_of([&] { run(c.write("INSERT INTO failover VALUES (2)", {})); }).has_value();
  }));
  EXPECT_FALSE(run(c.write("SELECT pg_is_in_recovery()", {})).get<bool>(0, 0));
  EXPECT_EQ(run(c.write("SELECT count(*) FROM failover", {})).get<std::int64_t>(0, 0), 2);
  ASSERT_TRUE(wait_until([&] {
    return c.primary_state().address == fmt::format("127.0.0.1:{}", own.replica_port());
  }));
  // The promoted node is not a standby any more: out of the read rotation.
  ASSERT_TRUE(wait_until([&] { return !replica_in_rotation(); }));
  EXPECT_FALSE(run(recovery_of_read(c, 0)));
  cluster_->stop();
}

}  // namespace
}  // namespace surge::pg
