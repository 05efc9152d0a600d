#include "pg/pool.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

namespace surge::pg {

namespace asio = boost::asio;
using asio::awaitable;

// ===========================================================================
// Lease
// ===========================================================================

// Giving a connection back may allocate (the idle list) or log: noexcept on
// purpose, as a failure there (out of memory) cannot be answered anyway.
// NOLINTNEXTLINE(bugprone-exception-escape)
Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    reset();
    pool_ = std::move(other.pool_);
    conn_ = std::move(other.conn_);
  }
  return *this;
}

Lease::~Lease() {  // NOLINT(bugprone-exception-escape): see operator=
  reset();
}

void Lease::reset() noexcept {  // NOLINT(bugprone-exception-escape): see operator=
  if (conn_) {
    pool_->release(std::move(conn_));
  }
  pool_.reset();
}

// ===========================================================================
// Pool
// ===========================================================================

Pool::Pool(asio::io_context& io, std::string conninfo, std::string node, std::size_t max_size,
           std::chrono::milliseconds connect_timeout, PoolMetrics metrics,
           const std::atomic<std::uint64_t>* epoch)
    : io_(io),
      conninfo_(std::move(conninfo)),
      node_(std::move(node)),
      max_size_(std::max<std::size_t>(1, max_size)),
      connect_timeout_(connect_timeout),
      metrics_(metrics),
      epoch_(epoch) {}

Pool::~Pool() {
  // Waiters hold a shared_ptr to us through their coroutine; none can be
  // left. Idle connections close with the vector.
  idle_.clear();
}

awaitable<Lease> Pool::acquire(Clock::time_point deadline) {
  bool counted_wait = false;
  for (;;) {
    if (stopped_) {
      throw Error(Error::Class::kConnection, std::string(),
                  fmt::format("pg {}: pool is stopped", node_));
    }
    while (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      if (c->usable() && fresh(*c)) {
        metrics_.in_use.add(1);
        // A fresh `c` each iteration: the analyzer follows the loop, not the scope.
        // NOLINTNEXTLINE(clang-analyzer-cplusplus.Move)
        co_return Lease(shared_from_this(), std::move(c));
      }
      --size_;  // died while idle (server restart): drop it, look further
    }
    if (size_ < max_size_) {
      ++size_;
      auto c = std::make_unique<Connection>(io_, conninfo_, node_);
      if (epoch_ != nullptr) {
        c->set_generation(epoch_->load(std::memory_order_relaxed));
      }
      try {
        co_await c->connect(std::min(deadline, Clock::now() + connect_timeout_));
      } catch (...) {
        --size_;
        wake_one_to_retry();
        throw;
      }
      if (stopped_) {  // stop() ran while we were connecting
        --size_;
        continue;
      }
      metrics_.in_use.add(1);
      co_return Lease(shared_from_this(), std::move(c));
    }
    if (!counted_wait) {
      metrics_.waits.add();
      counted_wait = true;
    }
    Waiter w(io_);
    waiters_.push_back(w);
    w.timer.expires_at(deadline);
    co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));
    // A hand-over wins over an expiry that happened at the same time.
    if (w.conn) {
      metrics_.in_use.add(1);
      co_return Lease(shared_from_this(), std::move(w.conn));
    }
    if (!w.retry && Clock::now() >= deadline) {
      throw Error(Error::Class::kQueryCanceled, std::string(),
                  fmt::format("pg {}: timed out waiting for a pooled connection", node_));
    }
    // retry (or stop): loop; w unlinks itself when it goes out of scope.
  }
}

// NOLINTNEXTLINE(bugprone-exception-escape): see Lease::operator=
void Pool::release(std::unique_ptr<Connection> conn) noexcept {
  metrics_.in_use.add(-1);
  if (stopped_ || !conn->usable() || !fresh(*conn)) {
    conn.reset();  // closes
    --size_;
    wake_one_to_retry();
    return;
  }
  if (!waiters_.empty()) {
    Waiter& w = waiters_.front();
    waiters_.pop_front();
    w.conn = std::move(conn);
    w.timer.cancel();
    return;
  }
  try {
    idle_.push_back(std::move(conn));
  } catch (...) {  // out of memory: drop the connection instead
    --size_;
  }
}

// NOLINTNEXTLINE(bugprone-exception-escape): see Lease::operator=
void Pool::wake_one_to_retry() noexcept {
  if (!waiters_.empty()) {
    Waiter& w = waiters_.front();
    waiters_.pop_front();
    w.retry = true;
    w.timer.cancel();
  }
}

void Pool::close_idle() {
  size_ -= idle_.size();
  idle_.clear();
}

void Pool::stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  close_idle();
  while (!waiters_.empty()) {
    Waiter& w = waiters_.front();
    waiters_.pop_front();
    w.timer.cancel();  // wakes to find stopped_
  }
}

}  // namespace surge::pg
