#include "ops/health.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "http/context.hpp"
#include "http/error.hpp"

namespace surge::ops {

namespace json = boost::json;

namespace {

std::string render(const std::vector<DependencyState>& deps, std::string_view status) {
  json::array list;
  for (const auto& d : deps) {
    json::object o = d.details;
    o["name"] = d.name;
    o["state"] = d.state;
    o["required"] = d.required;
    list.emplace_back(std::move(o));
  }
  json::object root;
  root["status"] = status;
  root["dependencies"] = std::move(list);
  return json::serialize(root);
}

}  // namespace

Health::Health(std::vector<Probe> probes) : probes_(std::move(probes)) {
  refresh();
}

Health::~Health() {  // NOLINT(bugprone-exception-escape): stop() cancels a timer and joins
  stop();
}

Health::Report Health::check() const {
  std::vector<DependencyState> deps;
  for (const auto& probe : probes_) {
    auto more = probe();
    deps.insert(deps.end(), std::make_move_iterator(more.begin()),
                std::make_move_iterator(more.end()));
  }
  Report report;
  for (const auto& d : deps) {
    if (d.required && !d.serving) {
      report.ready = false;
    }
  }
  report.body = render(deps, report.ready ? "ready" : "unavailable");
  return report;
}

void Health::refresh() {
  std::vector<DependencyState> deps;
  for (const auto& probe : probes_) {
    auto more = probe();
    deps.insert(deps.end(), std::make_move_iterator(more.begin()),
                std::make_move_iterator(more.end()));
  }
  // Liveness is "ok" whatever the dependencies say; they are listed for
  // whoever reads the body.
  healthz_.store(std::make_shared<const std::string>(render(deps, "ok")));
}

std::shared_ptr<const std::string> Health::healthz_body() const {
  return healthz_.load();
}

void Health::start(boost::asio::io_context& io, std::chrono::milliseconds period) {
  period_ = period;
  timer_ = std::make_unique<boost::asio::steady_timer>(io);
  schedule();
}

void Health::schedule() {
  if (stopped_.load() || !timer_) {
    return;
  }
  timer_->expires_after(period_);
  timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_.load()) {
      return;
    }
    refresh();
    schedule();
  });
}

void Health::stop() {
  if (stopped_.exchange(true)) {
    return;  // idempotent: the destructor calls it again
  }
  if (timer_) {
    boost::asio::post(timer_->get_executor(), [t = timer_.get()] { t->cancel(); });
  }
}

void Health::add_routes(http::Router& router) {
  router.add({http::Method::kGet, "/healthz", http::Auth::kNone,
              http::SyncHandler([this](http::Context& ctx) {
                const auto body = healthz_body();
                ctx.response.json(http::Status::kOk, *body);
              })});
  router.add({http::Method::kGet, "/readyz", http::Auth::kNone,
              http::SyncHandler([this](http::Context& ctx) {
                const Report report = check();
                ctx.response.json(
                    report.ready ? http::Status::kOk : http::Status::kServiceUnavailable,
                    report.body);
                if (!report.ready) {
                  ctx.response.set("Retry-After", "1");
                }
              })});
}

}  // namespace surge::ops
