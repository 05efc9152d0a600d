#include "http/server.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "http/connection.hpp"
#include "http/worker.hpp"
#include "log/log.hpp"

namespace surge::http {

namespace asio = boost::asio;

// ===========================================================================
// Worker: one I/O thread
// ===========================================================================

Worker::Worker(Server& server, std::size_t index) : server_(server), index_(index) {
  refresh_date();
}

const ServerSettings& Worker::settings() const {
  return server_.settings_;
}
Dispatcher& Worker::dispatcher() {
  return server_.dispatcher_;
}

unsigned short Worker::listen(unsigned short port) {
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(settings().address), port);
  acceptor_.emplace(io_);
  acceptor_->open(endpoint.protocol());
  acceptor_->set_option(asio::socket_base::reuse_address(true));
  // Every thread listens on the same port; the kernel balances new
  // connections between them without a hand-off.
  using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
  acceptor_->set_option(reuse_port(true));
  boost::system::error_code ec;
  acceptor_->bind(endpoint, ec);
  if (ec) {
    throw std::system_error(ec, fmt::format("cannot listen on {}:{}", settings().address, port));
  }
  acceptor_->listen(asio::socket_base::max_listen_connections);
  return acceptor_->local_endpoint().port();
}

void Worker::start() {
  asio::co_spawn(io_, accept_loop(), asio::detached);
  schedule_sweep();
}

asio::awaitable<void> Worker::accept_loop() {
  asio::steady_timer backoff(io_);
  while (acceptor_ && acceptor_->is_open()) {
    auto [ec, socket] = co_await acceptor_->async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || draining_) {
      break;
    }
    if (ec) {
      // Out of descriptors or memory: keep serving the connections we have
      // and try again shortly instead of spinning.
      log::warn("accept failed", {{"error", ec.message()}});
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    // Checked per thread without a lock: the limit may be passed by at most
    // one connection per I/O thread, which is fine for a protective bound.
    if (server_.open_connections_.value() >=
        static_cast<std::int64_t>(settings().max_connections)) {
      // Beyond the limit: close at once; the server stays up for the others.
      server_.rejected_.add();
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    server_.open_connections_.add(1);
    server_.accepted_.add();
    asio::co_spawn(io_, run_connection(*this, std::move(socket)), asio::detached);
  }
}

void Worker::attach(Connection& c) {
  connections_.push_back(c);
}

void Worker::connection_closed() {
  server_.open_connections_.add(-1);
  if (draining_) {
    maybe_finish();
  }
}

void Worker::refresh_date() {
  const std::time_t now = std::time(nullptr);
  if (now == date_second_) {
    return;
  }
  date_second_ = now;
  std::tm tm{};
  gmtime_r(&now, &tm);
  date_size_ = std::strftime(date_.data(), date_.size(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

void Worker::schedule_sweep() {
  // Often enough for the Date header and the shortest timeout's accuracy.
  const auto shortest = std::min(settings().header_timeout, settings().idle_timeout);
  const auto period = std::clamp<std::chrono::milliseconds>(
      shortest / 4, std::chrono::milliseconds(20), std::chrono::milliseconds(500));
  sweeper_.expires_after(period);
  sweeper_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      sweep();
    }
  });
}

void Worker::sweep() {
  refresh_date();
  const auto now = CoarseClock::now();
  const bool force = draining_ && now >= force_close_at_;
  for (auto it = connections_.begin(); it != connections_.end();) {
    Connection& c = *it++;  // abort() may unlink later, not now; advance first anyway
    const bool expired = c.phase() != Connection::Phase::kHandling && c.deadline() <= now;
    if (force || expired || (draining_ && c.phase() == Connection::Phase::kIdle)) {
      if (expired && c.phase() != Connection::Phase::kLingering) {
        server_.timed_out_.add();
      }
      c.abort();
    }
  }
  if (draining_ && connections_.empty()) {
    maybe_finish();
    return;
  }
  schedule_sweep();
}

void Worker::stop() {
  asio::post(io_, [this] { begin_drain(); });
}

void Worker::begin_drain() {
  if (draining_) {
    return;
  }
  draining_ = true;
  force_close_at_ = CoarseClock::now() + settings().shutdown_timeout;
  if (acceptor_) {
    boost::system::error_code ec;
    acceptor_->close(ec);
  }
  // Idle connections go now; busy ones finish their request first
  // (serialize() adds Connection: close while draining).
  for (auto& c : connections_) {
    if (c.phase() == Connection::Phase::kIdle) {
      c.abort();
    }
  }
  sweeper_.cancel();
  if (connections_.empty()) {
    maybe_finish();
  } else {
    schedule_sweep();
  }
}

void Worker::maybe_finish() {
  if (draining_ && connections_.empty()) {
    sweeper_.cancel();
    // Other clients on this context (database, cache) are stopped by their
    // owners after wait(); nothing else may keep this thread alive.
    io_.stop();
  }
}

// ===========================================================================
// Server
// ===========================================================================

Server::Server(ServerSettings settings, Dispatcher& dispatcher, metrics::Registry& registry)
    : settings_(std::move(settings)), dispatcher_(dispatcher) {
  if (settings_.threads == 0) {
    settings_.threads = std::max(1U, std::thread::hardware_concurrency());
  }
  for (std::size_t i = 0; i < settings_.threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(*this, i));
  }
  accepted_ = registry.counter("surge_http_connections_accepted_total", "Connections accepted.");
  rejected_ = registry.counter("surge_http_connections_rejected_total",
                               "Connections closed at once because max_connections was reached.");
  timed_out_ = registry.counter("surge_http_connections_timed_out_total",
                                "Connections closed by the header, idle or write timeout.");
  for (std::size_t i = 0; i < kProtocolErrorStatuses.size(); ++i) {
    protocol_errors_[i] = registry.counter(
        "surge_http_protocol_errors_total",
        "Requests rejected by the parser, by the status answered, and closed.",
        {{"status", std::to_string(kProtocolErrorStatuses[i])}}, metrics::Visibility::kOnceNonZero);
  }
  open_connections_ = registry.gauge("surge_http_connections_open", "Connections open now.");
}

void Server::count_protocol_error(Status status) noexcept {
  std::size_t i = 0;
  while (i + 1 < kProtocolErrorStatuses.size() &&
         kProtocolErrorStatuses[i] != static_cast<unsigned short>(status)) {
    ++i;
  }
  protocol_errors_[i].add();
}

// stop() and wait() only post and join; a failure there terminates, as it
// should in a destructor.
Server::~Server() {  // NOLINT(bugprone-exception-escape)
  stop();
  wait();
}

asio::io_context& Server::context(std::size_t thread) {
  return workers_.at(thread)->io();
}

void Server::start() {
  port_ = workers_.front()->listen(settings_.port);
  for (std::size_t i = 1; i < workers_.size(); ++i) {
    workers_[i]->listen(port_);
  }
  for (auto& w : workers_) {
    w->start();
    threads_.emplace_back([worker = w.get()] { worker->io().run(); });
  }
}

void Server::stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  for (auto& w : workers_) {
    w->stop();
  }
}

void Server::wait() {
  for (auto& t : threads_) {
    if (t.joinable()) {
      t.join();
    }
  }
}

}  // namespace surge::http
