#pragma once

// The HTTP/1.1 server: one io_context per thread, each with its own listening
// socket on the same port (SO_REUSEPORT: the kernel spreads connections, no
// thread hands sockets to another), keep-alive and pipelining, the limits and
// timeouts of ServerSettings, graceful shutdown. Design notes: docs/http.md.
//
// Lifecycle: construct → start() → (serve) → stop() → wait(). stop() may be
// called from any thread (a signal handler's io_context, a test); wait()
// returns once every connection is closed and every thread has finished.

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "http/dispatcher.hpp"
#include "http/settings.hpp"
#include "http/status.hpp"
#include "metrics/registry.hpp"

namespace surge::http {

class Worker;

class Server {
 public:
  Server(ServerSettings settings, Dispatcher& dispatcher,
         metrics::Registry& registry = metrics::Registry::global());
  ~Server();  // NOLINT(bugprone-exception-escape): see server.cpp
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every thread's listening socket (throws std::system_error naming
  // the address on failure) and starts the threads.
  void start();

  // The bound port (useful with port 0).
  unsigned short port() const { return port_; }
  std::size_t thread_count() const { return workers_.size(); }
  // The io_context of one I/O thread, for clients that live on it.
  boost::asio::io_context& context(std::size_t thread);

  // Stops accepting, lets in-flight requests finish and closes idle
  // connections; after settings.shutdown_timeout closes the rest. Idempotent.
  void stop();

  // Blocks until every I/O thread has finished.
  void wait();

  // Connections currently open (all threads).
  std::size_t connections() const { return static_cast<std::size_t>(open_connections_.value()); }

 private:
  friend class Worker;
  friend class Connection;
  ServerSettings settings_;
  Dispatcher& dispatcher_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  unsigned short port_ = 0;
  metrics::Gauge open_connections_;  // also the max_connections count
  std::atomic<bool> stopping_{false};
  metrics::Counter accepted_;
  metrics::Counter rejected_;
  metrics::Counter timed_out_;
  // Requests the parser refused, by the status answered: 400, 413, 431,
  // 505 (the last slot also takes any other).
  static constexpr std::array<unsigned short, 4> kProtocolErrorStatuses{400, 413, 431, 505};
  std::array<metrics::Counter, kProtocolErrorStatuses.size()> protocol_errors_;
  void count_protocol_error(Status status) noexcept;
};

}  // namespace surge::http
