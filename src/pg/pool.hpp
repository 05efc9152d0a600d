#pragma once

// A pool of connections to one node (the primary or one replica) on one
// io_context. The cluster keeps one Pool per (node, I/O thread), so a
// connection is only ever touched by the thread that runs its io_context.
//
//   acquire():  idle connection ─► lease
//               none idle, fewer than max_size ─► connect a new one ─► lease
//               else ─► wait (surge_pg_pool_waits_total) until a lease comes
//               back or the deadline passes (Error kQueryCanceled)
//   ~Lease:     usable connection ─► first waiter, else idle list
//               anything else (broken, timed out, inside a transaction,
//               made before the node last went down) ─► closed, and a
//               waiter may connect in its place
//
// Thread safety: none; every member, and every Lease's destruction, MUST run
// on the pool's io_context thread. Lifetime: a Pool is shared (Leases keep
// it alive); its io_context MUST outlive it.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

#include "metrics/registry.hpp"
#include "pg/connection.hpp"

namespace surge::pg {

class Pool;

// Exclusive use of one pooled connection; gives it back when destroyed.
class Lease {
 public:
  Lease() = default;
  Lease(std::shared_ptr<Pool> pool, std::unique_ptr<Connection> conn) noexcept
      : pool_(std::move(pool)), conn_(std::move(conn)) {}
  Lease(Lease&&) noexcept = default;
  // NOLINTNEXTLINE(bugprone-exception-escape): see pool.cpp
  Lease& operator=(Lease&& other) noexcept;
  ~Lease();  // NOLINT(bugprone-exception-escape): see pool.cpp
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  Connection& operator*() const noexcept { return *conn_; }
  Connection* operator->() const noexcept { return conn_.get(); }
  explicit operator bool() const noexcept { return conn_ != nullptr; }
  Pool* pool() const noexcept { return pool_.get(); }

  // Gives the connection back now (as the destructor would).
  void reset() noexcept;  // NOLINT(bugprone-exception-escape): see pool.cpp

 private:
  std::shared_ptr<Pool> pool_;
  std::unique_ptr<Connection> conn_;
};

struct PoolMetrics {
  metrics::Gauge in_use;   // leases held now (shared by the node's pools)
  metrics::Counter waits;  // acquires that had to wait
};

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  Pool(boost::asio::io_context& io, std::string conninfo, std::string node, std::size_t max_size,
       std::chrono::milliseconds connect_timeout, PoolMetrics metrics,
       const std::atomic<std::uint64_t>* epoch = nullptr);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // A connection for exclusive use until the Lease is destroyed. Throws
  // Error{kConnection} when connecting fails, Error{kQueryCanceled} when
  // `deadline` passes while waiting, Error{kConnection} after stop().
  boost::asio::awaitable<Lease> acquire(Clock::time_point deadline);

  // Refuses new acquires, fails waiters, closes idle connections; leased
  // ones close when they come back. Idempotent.
  void stop();

  // Closes idle connections (e.g. the node went down: they are dead anyway).
  void close_idle();

  std::size_t size() const noexcept { return size_; }
  std::size_t idle() const noexcept { return idle_.size(); }
  boost::asio::io_context& io() const noexcept { return io_; }
  const std::string& node() const noexcept { return node_; }

 private:
  friend class Lease;
  using Hook =
      boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;
  struct Waiter : Hook {
    explicit Waiter(boost::asio::io_context& io) : timer(io) {}
    boost::asio::steady_timer timer;
    std::unique_ptr<Connection> conn;  // handed over by release()
    bool retry = false;                // a slot opened: try to connect
  };
  using WaiterList = boost::intrusive::list<Waiter, boost::intrusive::base_hook<Hook>,
                                            boost::intrusive::constant_time_size<false>>;

  void release(std::unique_ptr<Connection> conn) noexcept;  // NOLINT(bugprone-exception-escape)
  bool fresh(const Connection& c) const noexcept {
    return epoch_ == nullptr || c.generation() >= epoch_->load(std::memory_order_relaxed);
  }
  void wake_one_to_retry() noexcept;  // NOLINT(bugprone-exception-escape)

  boost::asio::io_context& io_;
  std::string conninfo_;
  std::string node_;
  std::size_t max_size_;
  std::chrono::milliseconds connect_timeout_;
  PoolMetrics metrics_;
  // The node's epoch (may be null): connections made in an older epoch are
  // stale (the node went down since) and are dropped, not handed out.
  const std::atomic<std::uint64_t>* epoch_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t size_ = 0;  // idle + leased + connecting
  WaiterList waiters_;
  bool stopped_ = false;
};

}  // namespace surge::pg
