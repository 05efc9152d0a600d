#include "catalog/change_publisher.hpp"

#include <exception>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "log/log.hpp"

namespace surge::catalog {

namespace asio = boost::asio;

ChangePublisher::ChangePublisher(PublishOptions options, metrics::Registry& registry)
    : options_(std::move(options)),
      ok_(registry.counter("surge_publish_runs_total", "Static catalog publications.",
                           {{"result", "ok"}})),
      errors_(registry.counter("surge_publish_runs_total", "Static catalog publications.",
                               {{"result", "error"}})) {}

ChangePublisher::~ChangePublisher() {
  stop();
}

void ChangePublisher::stop() {
  stopped_.store(true);
  pool_.join();
}

asio::awaitable<void> ChangePublisher::publish_now() {
  if (stopped_.load()) {
    co_return;
  }
  const std::uint64_t ticket = requested_.fetch_add(1) + 1;
  // Runs on the pool's thread; the awaiting coroutine resumes on its own
  // executor when the spawned one completes.
  co_await asio::co_spawn(
      pool_.get_executor(),
      [this, ticket]() -> asio::awaitable<void> {
        publish_covering(ticket);
        co_return;
      },
      asio::use_awaitable);
}

void ChangePublisher::publish_covering(std::uint64_t ticket) {
  if (covered_.load() >= ticket || stopped_.load()) {
    return;  // a publish that started after this request already ran
  }
  // Every request made so far committed before it was made: this publish
  // (its snapshot is taken now) covers them all.
  const std::uint64_t upto = requested_.load();
  try {
    const PublishReport report = publish(options_);
    ok_.add();
    if (report.catalog_written || report.campaigns_written) {
      log::info("catalog published after an admin write",
                {{"catalog", report.manifest.catalog_version},
                 {"campaigns", report.manifest.campaigns_version}});
    }
  } catch (const std::exception& e) {
    errors_.add();
    log::warn("catalog publication after an admin write failed (the worker's timer retries)",
              {{"error", e.what()}});
  }
  covered_.store(upto);
}

}  // namespace surge::catalog
