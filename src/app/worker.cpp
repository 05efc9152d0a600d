#include "app/worker.hpp"

#include <csignal>
#include <future>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "app/data_tier.hpp"
#include "app/probes.hpp"
#include "catalog/publish_timer.hpp"
#include "flashsales/persist.hpp"
#include "http/dispatcher.hpp"
#include "http/request_id.hpp"
#include "http/route_metrics.hpp"
#include "http/server.hpp"
#include "log/log.hpp"
#include "ops/health.hpp"
#include "ops/routes.hpp"
#include "redpackets/persist.hpp"
#include "worker/consumer.hpp"

namespace surge::app {

namespace asio = boost::asio;

int worker(const Config& config) {
  if (config.database.primary.empty()) {
    throw ConfigError("database.primary: required by `surge worker` (a libpq URI)");
  }
  if (config.redis.shards.empty()) {
    throw ConfigError("redis.shards: required by `surge worker` (the campaign streams)");
  }
  metrics::Registry& registry = metrics::Registry::global();

  // The ops server's I/O threads also carry the data tier and the consumers.
  http::ServerSettings server_settings = config.server;
  server_settings.address = config.worker.address;
  server_settings.port = config.worker.port;
  server_settings.threads = config.worker.threads;
  server_settings.access_log = false;
  http::Dispatcher dispatcher;
  http::Server server(server_settings, dispatcher, registry);
  std::vector<asio::io_context*> contexts;
  for (std::size_t i = 0; i < server.thread_count(); ++i) {
    contexts.push_back(&server.context(i));
  }

  DataTier tier = connect_data_tier(config, contexts, registry);
  redpackets::GrabSink grabs(*tier.database);
  flashsales::OrderSink orders(*tier.database, *tier.redis, registry, config.profile.marker_ttl);
  std::vector<worker::Sink*> sinks{&grabs, &orders};
  worker::Pool pool(config.worker.queue, *tier.redis, sinks, contexts, registry);

  asio::io_context side_io(1);
  std::vector<ops::Probe> probes = probes_for(tier.database.get(), tier.redis.get());
  probes.emplace_back([&pool] {
    const worker::Pool::Stats stats = pool.stats();
    ops::DependencyState d;
    d.name = "queue.consumers";
    d.required = true;
    d.serving = stats.running == stats.consumers;
    d.state = d.serving ? "up" : (stats.running == 0 ? "down" : "degraded");
    d.details["consumers"] = stats.consumers;
    d.details["running"] = stats.running;
    d.details["depth"] = stats.depth;
    d.details["oldest_pending_age_ms"] = stats.oldest_pending_age_ms;
    return std::vector<ops::DependencyState>{std::move(d)};
  });
  ops::Health health(std::move(probes));
  http::Router router;
  ops::add_routes(router, registry);
  health.add_routes(router);
  dispatcher.set_router(std::move(router));
  dispatcher.use(std::make_unique<http::RequestIdMiddleware>());
  dispatcher.use(std::make_unique<http::RouteMetricsMiddleware>(dispatcher.router(), registry));

  // The static catalog follows admin changes within one interval.
  std::optional<catalog::PublishTimer> publisher;
  if (config.worker.publish_interval.count() > 0) {
    catalog::PublishOptions publish_options;
    publish_options.database_uri = config.database.primary;
    publish_options.dir = config.publish.dir;
    publish_options.retention = config.publish.retention;
    publisher.emplace(std::move(publish_options), config.worker.publish_interval, registry);
  }

  tier.start();
  server.start();
  pool.start();
  if (publisher) {
    publisher->start();
  }
  log::info("worker ready", {{"address", server_settings.address},
                             {"port", server.port()},
                             {"threads", server.thread_count()},
                             {"shards", config.redis.shards.size()},
                             {"consumers_per_stream", config.worker.queue.consumers}});

  health.start(side_io, std::chrono::milliseconds(250));
  std::promise<int> stop_signal;
  asio::signal_set signals(side_io, SIGTERM, SIGINT);
  signals.async_wait([&stop_signal](const boost::system::error_code& ec, int signal) {
    stop_signal.set_value(ec ? 0 : signal);
  });
  std::thread side_thread([&side_io] { side_io.run(); });

  // Shutdown order: consumers finish their batches (they need the data
  // tier and the I/O threads), then the ops server, the side thread, the
  // data tier.
  const int signal = stop_signal.get_future().get();
  log::info("worker shutting down", {{"signal", signal}});
  if (publisher) {
    publisher->stop();
  }
  pool.stop();
  if (!pool.wait(config.server.shutdown_timeout)) {
    log::warn("worker: consumers still busy at the shutdown timeout",
              {{"running", pool.running()}});
  }
  server.stop();
  server.wait();
  health.stop();
  side_io.stop();
  side_thread.join();
  tier.stop();
  log::info("worker stopped");
  return 0;
}

}  // namespace surge::app
