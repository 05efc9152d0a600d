#pragma once

// Internal to the HTTP server: one I/O thread's state.
//
//   Worker ── io_context (this thread only)
//          ├─ acceptor   (own SO_REUSEPORT socket on the shared port)
//          ├─ connections (intrusive list: the sweeper walks it)
//          └─ sweeper    (one timer: timeouts, the Date header, shutdown)
//
// Everything here is touched only by the worker's own thread, except stop(),
// which posts onto it. Timeouts cost no timer per request: each connection
// stores a deadline and the sweeper closes the ones past it.

#include <array>
#include <chrono>
#include <ctime>
#include <optional>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

#include "http/coarse_clock.hpp"
#include "http/settings.hpp"

namespace surge::http {

class Server;
class Dispatcher;
class Connection;

using ConnectionHook =
    boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;
// The hook is named explicitly so the list can be declared while Connection
// is still incomplete.
using ConnectionList =
    boost::intrusive::list<Connection, boost::intrusive::base_hook<ConnectionHook>,
                           boost::intrusive::constant_time_size<false>>;

class Worker {
 public:
  Worker(Server& server, std::size_t index);

  boost::asio::io_context& io() { return io_; }
  Server& server() { return server_; }
  const ServerSettings& settings() const;
  Dispatcher& dispatcher();
  std::size_t index() const { return index_; }

  // "Wed, 25 Nov 2026 08:00:00 GMT", refreshed by the sweeper.
  std::string_view date() const { return {date_.data(), date_size_}; }
  bool draining() const { return draining_; }

  // Opens the listening socket (port 0 → any; others reuse the first port).
  unsigned short listen(unsigned short port);
  void start();
  // Posts the graceful stop onto this worker's thread.
  void stop();

  void attach(Connection& c);
  void connection_closed();

 private:
  friend class Connection;
  boost::asio::awaitable<void> accept_loop();
  void sweep();
  void schedule_sweep();
  void begin_drain();
  void refresh_date();
  void maybe_finish();

  Server& server_;
  std::size_t index_;
  boost::asio::io_context io_{1};
  std::optional<boost::asio::ip::tcp::acceptor> acceptor_;
  boost::asio::steady_timer sweeper_{io_};
  ConnectionList connections_;
  bool draining_ = false;
  CoarseClock::time_point force_close_at_{};
  std::array<char, 40> date_{};
  std::size_t date_size_ = 0;
  std::time_t date_second_ = 0;
};

}  // namespace surge::http
