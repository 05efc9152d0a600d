#include "app/serve.hpp"

#include <algorithm>
#include <csignal>
#include <memory>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "app/data_tier.hpp"
#include "app/probes.hpp"
#include "cache/redis_remote_cache.hpp"
#include "cache/two_level.hpp"
#include "campaigns/http_support.hpp"
#include "campaigns/queue_stats.hpp"
#include "catalog/change_publisher.hpp"
#include "catalog/products.hpp"
#include "flashsales/flashsales.hpp"
#include "http/access_log.hpp"
#include "http/auth.hpp"
#include "http/dispatcher.hpp"
#include "http/request_id.hpp"
#include "http/route_metrics.hpp"
#include "http/server.hpp"
#include "log/log.hpp"
#include "metrics/registry.hpp"
#include "ops/health.hpp"
#include "ops/routes.hpp"
#include "orders/orders.hpp"
#include "pg/cluster.hpp"
#include "pg/migrate.hpp"
#include "profile/cache_admin.hpp"
#include "profile/db_errors.hpp"
#include "profile/user_center.hpp"
#include "redis/shards.hpp"
#include "redpackets/redpackets.hpp"
#include "signin/signin.hpp"
#include "users/accounts.hpp"
#include "users/token.hpp"

namespace surge::app {

namespace asio = boost::asio;

namespace {

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

// The business modules of one process. They need the database; without
// one the server answers only the operational routes.
struct Modules {
  // First member: destroyed last, after every module that calls it.
  std::unique_ptr<catalog::ChangePublisher> publisher;
  std::unique_ptr<users::Accounts> accounts;
  std::unique_ptr<profile::UserCenter> user_center;
  std::unique_ptr<signin::SignIn> signin;
  std::unique_ptr<catalog::Products> products;
  std::unique_ptr<orders::Orders> orders;
  std::unique_ptr<redpackets::RedPackets> redpackets;
  std::unique_ptr<flashsales::FlashSales> flashsales;
  std::unique_ptr<profile::CacheAdmin> cache_admin;

  void stop() {
    if (accounts) {
      accounts->stop();  // joins the password hashing threads
    }
    if (publisher) {
      publisher->stop();  // finishes the publish in progress
    }
  }
};

users::AccountsSettings accounts_settings(const Config& config) {
  users::AccountsSettings settings;
  settings.tokens.secret = config.auth.token_secret;
  settings.tokens.admin_token = config.auth.admin_token;
  settings.tokens.ttl = config.auth.token_ttl;
  settings.passwords = config.users.passwords;
  settings.login_limits = config.users.login_limits;
  return settings;
}

profile::Settings profile_settings(const Config& config) {
  profile::Settings settings;
  settings.cache = config.cache;
  settings.cache.l2_ttl = config.profile.l2_ttl;
  settings.marker_ttl = config.profile.marker_ttl;
  return settings;
}

Modules build_modules(const Config& config, DataTier& tier, metrics::Registry& registry,
                      http::Router& router) {
  Modules modules;
  if (!tier.database) {
    return modules;
  }
  catalog::PublishHook publish;
  if (config.publish.on_admin_write) {
    catalog::PublishOptions options;
    options.database_uri = config.database.primary;
    options.dir = config.publish.dir;
    options.retention = config.publish.retention;
    modules.publisher = std::make_unique<catalog::ChangePublisher>(std::move(options), registry);
    publish = [p = modules.publisher.get()] { return p->publish_now(); };
  }
  pg::Cluster& database = *tier.database;
  redis::Shards* redis = tier.redis.get();
  // Every module is built (they call each other: orders drop product cache
  // entries, sign-in writes through the profile store); only the enabled
  // ones answer their routes (server.modules).
  const auto serves = [&config](std::string_view module) {
    return std::ranges::find(config.modules, module) != config.modules.end();
  };
  modules.cache_admin = std::make_unique<profile::CacheAdmin>(registry);

  modules.accounts =
      std::make_unique<users::Accounts>(database, redis, accounts_settings(config), registry);
  if (serves("user")) {
    modules.accounts->add_routes(router);
  }

  modules.user_center =
      std::make_unique<profile::UserCenter>(database, redis, profile_settings(config), registry);
  if (serves("user")) {
    modules.user_center->add_routes(router);
  }
  modules.user_center->register_admin_scopes(*modules.cache_admin);

  modules.signin = std::make_unique<signin::SignIn>(database, redis, modules.user_center->store(),
                                                    config.signin, registry);
  if (serves("user")) {
    modules.signin->add_routes(router);
  }
  modules.signin->register_admin_scopes(*modules.cache_admin);

  modules.redpackets = std::make_unique<redpackets::RedPackets>(database, redis, registry,
                                                                config.campaigns.hot_retention);
  if (serves("campaigns")) {
    modules.redpackets->add_routes(router);
  }
  modules.redpackets->publish_changes_with(publish);
  modules.flashsales = std::make_unique<flashsales::FlashSales>(database, redis, registry,
                                                                config.campaigns.hot_retention);
  if (serves("campaigns")) {
    modules.flashsales->add_routes(router);
  }
  modules.flashsales->publish_changes_with(publish);

  // A new account may have been looked up (and cached as absent) just
  // before: its registration invalidates like any profile write.
  profile::ProfileStore* profiles = &modules.user_center->store();
  modules.accounts->on_user_created(
      [profiles](std::uint64_t user_id, pg::Lsn lsn) -> asio::awaitable<void> {
        co_await profiles->after_write(user_id, lsn);
      });

  modules.products = std::make_unique<catalog::Products>(database, redis, tier.remote_cache.get(),
                                                         config.cache, registry);
  if (serves("catalog")) {
    modules.products->add_routes(router);
  }
  modules.products->publish_changes_with(publish);
  modules.products->register_admin_scopes(*modules.cache_admin);

  catalog::Products* products = modules.products.get();
  modules.orders = std::make_unique<orders::Orders>(
      database, redis, modules.user_center->store(), orders::Settings{}, registry,
      [products](std::vector<std::uint64_t> ids) {
        return products->stock_changed(std::move(ids));
      });
  if (serves("orders")) {
    modules.orders->add_routes(router);
  }

  modules.cache_admin->add_routes(router);
  return modules;
}

}  // namespace

int serve(const Config& config) {
  log::init(config.log.level);
  metrics::Registry& registry = metrics::Registry::global();

  // The server first: its I/O threads' io_contexts carry every client.
  http::Dispatcher dispatcher;
  http::Server server(config.server, dispatcher, registry);
  std::vector<asio::io_context*> contexts;
  for (std::size_t i = 0; i < server.thread_count(); ++i) {
    contexts.push_back(&server.context(i));
  }

  DataTier tier = connect_data_tier(config, contexts, registry);
  // The campaign queues' depth and lag on this server's /metrics too (the
  // worker's ops port is not behind the load balancer).
  std::optional<campaigns::QueueMonitor> queue_monitor;
  if (tier.redis) {
    queue_monitor.emplace(*tier.redis, registry, std::chrono::seconds(1));
  }
  // Signals and the health snapshot live on this small side thread; the I/O
  // threads never see a signal. Declared before `health`, whose timer lives
  // on it, so it is destroyed after.
  asio::io_context side_io(1);
  ops::Health health(probes_for(tier.database.get(), tier.redis.get()));

  // The routes of every module, in one place: the service's whole surface.
  http::Router router;
  ops::add_routes(router, registry);
  health.add_routes(router);
  Modules modules = build_modules(config, tier, registry, router);
  dispatcher.set_router(std::move(router));
  // Without the database there are no accounts, but tokens still verify
  // (and admin routes still check the admin token).
  const users::TokenAuthenticator bare_authenticator(config.auth.token_secret,
                                                     config.auth.admin_token);
  build_chain(dispatcher, config, registry,
              modules.accounts ? &modules.accounts->authenticator() : &bare_authenticator);
  // A dependency that is down answers 503 + Retry-After, mapped here once
  // rather than by each handler. A redis::Error escapes only from the
  // campaign routes: every other module degrades to the database on one.
  dispatcher.add_error_translator(profile::database_unavailable);
  dispatcher.add_error_translator(campaigns::shard_unavailable);

  tier.start();
  server.start();
  if (queue_monitor) {
    queue_monitor->start(*contexts.front());
  }
  log::info("listening", {{"address", config.server.address},
                          {"port", server.port()},
                          {"threads", server.thread_count()},
                          {"database", tier.database != nullptr},
                          {"cache_shards", config.redis.shards.size()}});

  health.start(side_io, std::chrono::milliseconds(250));
  asio::signal_set signals(side_io, SIGTERM, SIGINT);
  signals.async_wait([&server](const boost::system::error_code& ec, int signal) {
    if (!ec) {
      log::info("shutting down", {{"signal", signal}});
      server.stop();
    }
  });
  std::thread side_thread([&side_io] { side_io.run(); });

  // Shutdown order: HTTP drains first (in-flight requests still use the
  // data tier), then the side thread, then the data tier's clients.
  server.wait();
  health.stop();
  side_io.stop();
  side_thread.join();
  if (queue_monitor) {
    queue_monitor->stop();
  }
  modules.stop();
  tier.stop();
  log::info("stopped");
  return 0;
}

}  // namespace surge::app
