#include "catalog/publish_timer.hpp"

#include <exception>
#include <utility>

#include "log/log.hpp"

namespace surge::catalog {

PublishTimer::PublishTimer(PublishOptions options, std::chrono::seconds interval,
                           metrics::Registry& registry)
    : options_(std::move(options)),
      interval_(interval),
      ok_(registry.counter("surge_publish_runs_total", "Timed static catalog publications.",
                           {{"result", "ok"}})),
      errors_(registry.counter("surge_publish_runs_total", "Timed static catalog publications.",
                               {{"result", "error"}})) {}

PublishTimer::~PublishTimer() {
  stop();
}

void PublishTimer::start() {
  const std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) {
    return;
  }
  thread_ = std::thread([this] { run(); });
}

void PublishTimer::stop() {
  {
    const std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void PublishTimer::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    publish_once();
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

void PublishTimer::publish_once() {
  try {
    const PublishReport report = publish(options_);
    ok_.add();
    if (report.catalog_written || report.campaigns_written) {
      log::info("catalog published", {{"catalog", report.manifest.catalog_version},
                                      {"campaigns", report.manifest.campaigns_version},
                                      {"removed", report.removed}});
    }
  } catch (const std::exception& e) {
    errors_.add();
    log::warn("catalog publication failed", {{"error", e.what()}});
  }
}

}  // namespace surge::catalog
