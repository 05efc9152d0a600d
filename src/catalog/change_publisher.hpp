#pragma once

// Republishes the static catalog right after an admin write, on the app
// server that made it, before the write is answered: API.md §4 promises
// that GET /api/v1/catalog/version names the same version as the
// manifest, and that version changes the moment a product is written. The
// worker's timer (publish_timer.hpp) stays the safety net (a publish that
// failed here, campaigns that ended, rows written outside the API).
//
//   co_await publisher.publish_now();   // after the commit, before the answer
//
// publish() is blocking (libpq, file writes, fsync): it runs on this
// object's own thread, never on an I/O thread; the caller's coroutine
// resumes on its own executor when it is done. Requests coalesce: a publish
// that started after a caller's request (so after its commit) answers that
// request too. Concurrent publishers on several servers are serialised by
// a PostgreSQL advisory lock inside publish(), so the manifest never goes
// back to an older snapshot.
//
// Failures are logged and counted (surge_publish_runs_total{result="error"})
// and never fail the admin write that triggered them: the write committed.
//
// Thread safety: publish_now() from any I/O thread, concurrently.

#include <atomic>
#include <cstdint>
#include <functional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "catalog/publish.hpp"
#include "metrics/registry.hpp"

namespace surge::catalog {

// What the modules whose admin writes change the published files call after
// the commit (Products, RedPackets, FlashSales); empty = not publishing.
using PublishHook = std::function<boost::asio::awaitable<void>()>;

class ChangePublisher {
 public:
  ChangePublisher(PublishOptions options, metrics::Registry& registry);
  ~ChangePublisher();
  ChangePublisher(const ChangePublisher&) = delete;
  ChangePublisher& operator=(const ChangePublisher&) = delete;
  ChangePublisher(ChangePublisher&&) = delete;
  ChangePublisher& operator=(ChangePublisher&&) = delete;

  boost::asio::awaitable<void> publish_now();

  // Finishes the publish in progress and refuses new ones (they return at
  // once). Idempotent.
  void stop();

 private:
  void publish_covering(std::uint64_t ticket);

  PublishOptions options_;
  metrics::Counter ok_;
  metrics::Counter errors_;
  std::atomic<std::uint64_t> requested_{0};
  std::atomic<std::uint64_t> covered_{0};  // only written on the pool's thread
  std::atomic<bool> stopped_{false};
  boost::asio::thread_pool pool_{1};
};

}  // namespace surge::catalog
