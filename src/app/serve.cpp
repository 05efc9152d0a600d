#include "app/serve.hpp"

#include <csignal>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "http/access_log.hpp"
#include "http/auth.hpp"
#include "http/dispatcher.hpp"
#include "http/request_id.hpp"
#include "http/route_metrics.hpp"
#include "http/server.hpp"
#include "log/log.hpp"
#include "metrics/registry.hpp"
#include "ops/routes.hpp"

namespace surge::app {

namespace asio = boost::asio;

namespace {

// The routes of every module, in one place: the service's whole surface.
http::Router build_router(metrics::Registry& registry) {
  http::Router router;
  ops::add_routes(router, registry);
  return router;
}

// Middleware order is the request's path through the server (see middleware.hpp).
void build_chain(http::Dispatcher& dispatcher, const Config& config, metrics::Registry& registry,
                 const http::Authenticator* authenticator) {
  dispatcher.use(std::make_unique<http::RequestIdMiddleware>());
  dispatcher.use(std::make_unique<http::RouteMetricsMiddleware>(dispatcher.router(), registry));
  if (config.server.access_log) {
    dispatcher.use(std::make_unique<http::AccessLogMiddleware>());
  }
  dispatcher.use(std::make_unique<http::AuthMiddleware>(authenticator));
}

}  // namespace

int serve(const Config& config) {
  log::init(config.log.level);
  metrics::Registry& registry = metrics::Registry::global();

  http::Dispatcher dispatcher(build_router(registry));
  build_chain(dispatcher, config, registry, nullptr);

  http::Server server(config.server, dispatcher, registry);
  server.start();
  log::info("listening", {{"address", config.server.address},
                          {"port", server.port()},
                          {"threads", server.thread_count()}});

  // Signals are taken on this (main) thread; the I/O threads never see them.
  asio::io_context signals_io(1);
  asio::signal_set signals(signals_io, SIGTERM, SIGINT);
  signals.async_wait([&server](const boost::system::error_code& ec, int signal) {
    if (!ec) {
      log::info("shutting down", {{"signal", signal}});
      server.stop();
    }
  });
  std::thread signal_thread([&signals_io] { signals_io.run(); });

  server.wait();
  signals_io.stop();
  signal_thread.join();
  log::info("stopped");
  return 0;
}

}  // namespace surge::app
