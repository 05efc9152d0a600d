#include "users/password.hpp"

#include <future>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

namespace surge::users {
namespace {

namespace asio = boost::asio;

// The cheapest argon2id libsodium accepts: the tests check plumbing, not cost.
PasswordSettings cheap() {
  PasswordSettings s;
  s.threads = 2;
  s.max_pending = 8;
  s.opslimit = 1;
  s.memlimit = 8192;
  return s;
}

// Runs `coro` on a fresh io_context driven by this thread and returns its result.
template <typename T>
T run(asio::awaitable<T> coro) {
  asio::io_context io(1);
  std::future<T> f = asio::co_spawn(io, std::move(coro), asio::use_future);
  io.run();
  return f.get();
}

TEST(UsersPasswordBlocking, HashAndVerify) {
  const std::string hash = hash_password("surge-demo", 1, 8192);
  EXPECT_EQ(hash.rfind("$argon2id$v=19$m=8,t=1,p=1$", 0), 0U) << hash;
  EXPECT_TRUE(verify_password(hash, "surge-demo"));
  EXPECT_FALSE(verify_password(hash, "surge-demo "));
  EXPECT_FALSE(verify_password(hash, ""));
  // Two hashes of one password differ (random salt) and both verify.
  const std::string again = hash_password("surge-demo", 1, 8192);
  EXPECT_NE(hash, again);
  EXPECT_TRUE(verify_password(again, "surge-demo"));
}

TEST(UsersPasswordBlocking, BinaryPasswordsAreLengthDelimited) {
  const std::string with_nul("abc\0defg", 8);
  const std::string hash = hash_password(with_nul, 1, 8192);
  EXPECT_TRUE(verify_password(hash, with_nul));
  EXPECT_FALSE(verify_password(hash, "abc"));
}

TEST(UsersPasswordBlocking, MalformedHashesNeverVerify) {
  EXPECT_FALSE(verify_password("", "x"));
  EXPECT_FALSE(verify_password("not a hash", "x"));
  EXPECT_FALSE(verify_password(std::string(500, '$'), "x"));
  EXPECT_THROW((void)hash_password("x", 0, 8192), std::invalid_argument);
  EXPECT_THROW((void)hash_password("x", 1, 1024), std::invalid_argument);
}

TEST(UsersPasswordHasher, RejectsUnusableSettings) {
  metrics::Registry registry;
  PasswordSettings s = cheap();
  s.threads = 0;
  EXPECT_THROW(PasswordHasher(s, registry), std::invalid_argument);
  s = cheap();
  s.max_pending = 0;
  EXPECT_THROW(PasswordHasher(s, registry), std::invalid_argument);
  s = cheap();
  s.memlimit = 100;
  EXPECT_THROW(PasswordHasher(s, registry), std::invalid_argument);
}

struct Observed {
  bool ok = false;
  bool wrong = true;
  bool resumed_on_io_thread = false;
  std::thread::id before;
  std::thread::id after;
};

asio::awaitable<Observed> hash_and_verify(PasswordHasher& hasher, asio::io_context& io) {
  Observed o;
  o.before = std::this_thread::get_id();
  const std::string hash = co_await hasher.hash("correct horse");
  o.after = std::this_thread::get_id();
  o.resumed_on_io_thread = io.get_executor().running_in_this_thread();
  o.ok = co_await hasher.verify(hash, "correct horse");
  o.wrong = co_await hasher.verify(hash, "wrong horse");
  co_await hasher.verify_dummy("whatever");
  o.resumed_on_io_thread = o.resumed_on_io_thread && io.get_executor().running_in_this_thread();
  co_return o;
}

TEST(UsersPasswordHasher, RunsOnThePoolAndResumesOnTheCallersExecutor) {
  metrics::Registry registry;
  PasswordHasher hasher(cheap(), registry);
  asio::io_context io(1);
  std::future<Observed> f = asio::co_spawn(io, hash_and_verify(hasher, io), asio::use_future);
  io.run();
  const Observed o = f.get();
  EXPECT_TRUE(o.ok);
  EXPECT_FALSE(o.wrong);
  EXPECT_TRUE(o.resumed_on_io_thread);
  EXPECT_EQ(o.before, o.after);
  EXPECT_EQ(hasher.pending(), 0U);
}

asio::awaitable<int> try_hash(PasswordHasher& hasher) {
  try {
    (void)co_await hasher.hash("correct horse");
    co_return 1;
  } catch (const Overloaded&) {
    co_return 0;
  }
}

TEST(UsersPasswordHasher, RefusesBeyondMaxPending) {
  metrics::Registry registry;
  PasswordSettings s = cheap();
  s.max_pending = 1;
  s.threads = 1;
  s.memlimit = std::size_t{16} << 20;  // slow enough to still run when the second arrives
  PasswordHasher hasher(s, registry);
  asio::io_context io(1);
  // Both start on this io_context before either job can finish: the first
  // reserves the only slot, the second is refused at once.
  auto first = asio::co_spawn(io, try_hash(hasher), asio::use_future);
  auto second = asio::co_spawn(io, try_hash(hasher), asio::use_future);
  io.run();
  EXPECT_EQ(first.get(), 1);
  EXPECT_EQ(second.get(), 0);
  EXPECT_EQ(hasher.pending(), 0U);
  EXPECT_EQ(registry.counter("surge_users_password_rejected_total", "").value(), 1U);
  // The slot is free again.
  EXPECT_EQ(run(try_hash(hasher)), 1);
}

TEST(UsersPasswordHasher, RefusesAfterStop) {
  metrics::Registry registry;
  PasswordHasher hasher(cheap(), registry);
  EXPECT_EQ(run(try_hash(hasher)), 1);
  hasher.stop();
  hasher.stop();  // idempotent
  EXPECT_EQ(run(try_hash(hasher)), 0);
}

}  // namespace
}  // namespace surge::users
