#pragma once

// Connection: one pipelined TCP connection to one Redis server.
//
// hiredis is used for the protocol only (Command encodes with
// redisFormatCommandArgv, a redisReader decodes); the socket, timers and
// coroutines are Asio's.
//
//   caller ──submit()──► session.out ──writer──► socket   (one write per batch)
//   caller ◄─wait()───── waiter FIFO ◄──reader── socket   (replies in order)
//
// * Pipelining: submit() appends the encoded bytes to the session's output
//   buffer and a waiter to its FIFO. The writer coroutine writes everything
//   queued so far in one write; the reader coroutine decodes replies and
//   hands them to waiters in FIFO order (Redis answers in request order).
// * Sessions: a session is one TCP connection's life (socket, reader,
//   buffers, waiters). It is opened lazily by the first submit() (or by
//   open()) and ends on any I/O error, protocol error, timeout, abort() or
//   shutdown(). Ending a session fails every waiter in it with the cause;
//   the next submit() opens a new session (lazy reconnect).
// * Timeouts: a waiter not answered within command_timeout of its submit()
//   ends the session with TimeoutError, failing every waiter in it: a reply
//   stream that stalled cannot be trusted to resume in step, and closing is
//   what detects a half-open TCP connection. Connecting counts against the
//   same budget (and against connect_timeout, whichever ends first).
// * Push mode (pub/sub): replies are not matched to requests; every reply is
//   handed to Observer::on_push and requests are sent with send().
//
// Thread safety: a Connection belongs to one io_context, run by one thread.
// Every member function except create() MUST be called on that thread, and
// the awaitables MUST be awaited by coroutines running there. create() may be
// called from any thread before the connection is used.
//
// Lifetime: create() returns a shared_ptr; the session's coroutines and every
// Ticket hold a reference, so the Connection lives until they end. Call
// shutdown() to end it for good: coroutines end and waiters fail with
// ConnectionError. Every pending operation is an Asio operation (socket,
// timer), so destroying the io_context without shutdown() also frees
// everything (no reference cycles through stored handlers).
//
// Errors: ConnectionError (connect/I/O/EOF/shut down), TimeoutError,
// ProtocolError. Error replies are returned as Reply values (is_error()),
// never thrown here. No C callback is ever registered with hiredis: the
// default reply builders are used and converted to Reply at once.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "redis/command.hpp"
#include "redis/error.hpp"
#include "redis/reply.hpp"

namespace surge::redis {

// "host:port", "[v6addr]:port" or "host" (port 6379). Throws
// std::invalid_argument naming the text on a malformed address.
struct Address {
  std::string host;
  std::uint16_t port = 6379;
  std::string text() const;
};
Address parse_address(std::string_view text);

struct ConnectionSettings {
  Address address;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
  bool push_mode = false;
};

class Connection : public std::enable_shared_from_this<Connection> {
  struct Session;
  struct Waiter;
  struct Private {};

 public:
  enum class State : unsigned char { kIdle, kConnecting, kOpen, kShutdown };

  // Session events, called on the connection's thread. They MUST NOT throw
  // and MUST NOT destroy the connection; they may call send() and open().
  class Observer {
   public:
    Observer() = default;
    virtual ~Observer() = default;
    Observer(const Observer&) = delete;
    Observer& operator=(const Observer&) = delete;
    Observer(Observer&&) = delete;
    Observer& operator=(Observer&&) = delete;
    // A session is open (before anything queued is written).
    virtual void on_connected(Connection& /*c*/) noexcept {}
    // An open session ended (after on_failure when there was a failure).
    virtual void on_disconnected(Connection& /*c*/) noexcept {}
    // A session failed: connect error or timeout, I/O error, EOF, timeout,
    // protocol error. Not called for shutdown().
    virtual void on_failure(Connection& /*c*/, const Error& /*cause*/) noexcept {}
    // Push mode: every reply.
    virtual void on_push(Connection& /*c*/, Reply&& /*reply*/) noexcept {}
  };

  // A submitted request: await it with wait_one() / wait_all() on the
  // connection's thread. A ticket that is never awaited is harmless (its
  // replies are dropped when they arrive).
  class Ticket {
   public:
    Ticket() = default;

   private:
    friend class Connection;
    std::shared_ptr<Connection> conn_;
    std::shared_ptr<Waiter> waiter_;
  };

  static std::shared_ptr<Connection> create(boost::asio::io_context& io,
                                            ConnectionSettings settings,
                                            std::shared_ptr<Observer> observer = nullptr);
  Connection(Private /*tag*/, boost::asio::io_context& io, ConnectionSettings settings,
             std::shared_ptr<Observer> observer);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  Connection(Connection&&) = delete;
  Connection& operator=(Connection&&) = delete;

  // Queues `bytes` (the RESP encoding of `replies` >= 1 commands) and starts
  // the command timeout. Opens a session if there is none. Throws
  // ConnectionError after shutdown(), std::logic_error in push mode.
  Ticket submit(std::string_view bytes, std::size_t replies = 1);

  // Await a ticket: its one reply / all its replies in order. Throw
  // ConnectionError, TimeoutError or ProtocolError.
  static boost::asio::awaitable<Reply> wait_one(Ticket ticket);
  static boost::asio::awaitable<std::vector<Reply>> wait_all(Ticket ticket);

  // submit + wait, for one command or a pipeline. The command is sent when
  // the awaitable starts.
  boost::asio::awaitable<Reply> execute(Command command);
  boost::asio::awaitable<std::vector<Reply>> execute(std::vector<Command> commands);

  // Push mode: queues bytes without expecting a matching reply. Opens a
  // session if there is none. Ignored after shutdown().
  void send(std::string_view bytes);

  // Opens a session now if there is none (warm-up, subscriber reconnect).
  void open();
  // Ends the current session (if any) as a failure with ConnectionError(reason).
  void abort(std::string_view reason);
  // Ends the current session and refuses further use. Idempotent.
  void shutdown();

  State state() const noexcept;
  // Waiters not yet answered in the current session.
  std::size_t in_flight() const noexcept;
  // When bytes were last received (or the session opened).
  std::chrono::steady_clock::time_point last_read() const noexcept { return last_read_; }
  const ConnectionSettings& settings() const noexcept { return settings_; }
  const std::string& address() const noexcept { return address_text_; }
  boost::asio::io_context& context() noexcept { return io_; }

 private:
  std::shared_ptr<Session> ensure_session();
  static void kick(Session& s);
  void deliver(const std::shared_ptr<Session>& s, Reply&& reply);
  template <typename E>
  void fail_session(const std::shared_ptr<Session>& s, const E& cause, bool report = true);

  static boost::asio::awaitable<void> run_session(std::shared_ptr<Connection> self,
                                                  std::shared_ptr<Session> s);
  static boost::asio::awaitable<void> read_loop(std::shared_ptr<Connection> self,
                                                std::shared_ptr<Session> s);
  static boost::asio::awaitable<void> write_loop(std::shared_ptr<Connection> self,
                                                 std::shared_ptr<Session> s);
  static boost::asio::awaitable<Reply> execute_one(std::shared_ptr<Connection> self,
                                                   Command command);
  static boost::asio::awaitable<std::vector<Reply>> execute_many(std::shared_ptr<Connection> self,
                                                                 std::vector<Command> commands);
  // After a ticket's wait: turns an unanswered waiter into a timeout and
  // rethrows the waiter's error.
  void settle(Waiter& w);

  boost::asio::io_context& io_;
  ConnectionSettings settings_;
  std::string address_text_;
  std::shared_ptr<Observer> observer_;
  std::shared_ptr<Session> session_;  // null when idle
  bool shutdown_ = false;
  std::chrono::steady_clock::time_point last_read_{};
};

}  // namespace surge::redis
