#pragma once

// Republishes the static catalog on a timer (`surge worker`): the catalog
// and the active campaigns change with admin calls on any app server, and
// the published files follow within one interval without anyone running
// `surge publish`.
//
// publish() is blocking (libpq, file writes, fsync), so the timer runs on a
// thread of its own, never on an I/O thread. A failed run is logged and
// counted (surge_publish_runs_total{result="error"}) and retried at the
// next tick; the files of the last good run stay served meanwhile.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "catalog/publish.hpp"
#include "metrics/registry.hpp"

namespace surge::catalog {

class PublishTimer {
 public:
  PublishTimer(PublishOptions options, std::chrono::seconds interval, metrics::Registry& registry);
  ~PublishTimer();
  PublishTimer(const PublishTimer&) = delete;
  PublishTimer& operator=(const PublishTimer&) = delete;
  PublishTimer(PublishTimer&&) = delete;
  PublishTimer& operator=(PublishTimer&&) = delete;

  // Publishes at once, then every interval, until stop().
  void start();
  // Wakes the thread and joins it (a run in progress finishes first).
  void stop();

 private:
  void run();
  void publish_once();

  PublishOptions options_;
  std::chrono::seconds interval_;
  metrics::Counter ok_;
  metrics::Counter errors_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace surge::catalog
