#pragma once

// One libpq connection driven by an asio io_context: no thread ever blocks on
// it. libpq does the protocol; asio only says when the socket is ready.
//
//   connect():  PQconnectStart → { wait for PQsocket to be readable/writable
//               → PQconnectPoll } until OK → non-blocking + pipeline mode.
//   a query:    PQsendPrepare (first use) + PQsendQueryPrepared/Params …
//               PQpipelineSync → PQflush until sent → { PQisBusy? wait
//               readable → PQconsumeInput } → PQgetResult … → copied Result.
//
// The connection stays in pipeline mode for its whole life, so a prepare and
// its first execution, or a whole transaction plus the LSN query after it,
// travel in one round trip.
//
// Prepared statements: each connection maps SQL text → statement name and
// prepares a statement the first time it runs here (at most kMaxPrepared per
// connection; beyond that statements run unnamed). Statements built from
// variable text (IN lists) should use arrays (pg::array) instead, or they
// will fill the map with one-off entries.
//
// Thread safety: none. A Connection belongs to the io_context it was created
// with; every call MUST run on that io_context's (single) thread, and at most
// one operation may be in flight at a time (the pool hands a connection to
// one coroutine at a time).
//
// Errors: connect() and every query throw pg::Error. A timeout or a
// transport failure leaves the connection closed (usable() == false); a
// server error (a constraint, a syntax error) leaves it usable.
//
// Lifetime: the io_context MUST outlive the Connection.
//
// TLS: not supported. With TLS, decrypted bytes can wait inside OpenSSL
// while the socket looks idle to epoll; use sslmode=disable (loopback / a
// private network).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "pg/error.hpp"
#include "pg/params.hpp"
#include "pg/result.hpp"

struct pg_conn;  // libpq's PGconn

namespace surge::pg {

using Clock = std::chrono::steady_clock;

// What pipeline() returns: a server error in one statement is data here (the
// caller decides: roll back, throw), a transport failure is an exception.
struct PipelineOutcome {
  static constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
  // One per statement; default (empty) for statements that did not run.
  std::vector<Result> results;
  // The first statement error, if any, and that statement's index.
  std::optional<Error> error;
  std::size_t failed = kNone;
};

class Connection {
 public:
  static constexpr std::size_t kMaxPrepared = 1024;

  // `conninfo`: a libpq URI or key=value string (multi-host allowed).
  // `node`: a name for logs and error messages ("primary", "replica-0").
  // Nothing happens until connect().
  Connection(boost::asio::io_context& io, std::string conninfo, std::string node);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects without blocking. Throws Error{kConnection} when the server
  // refuses, authentication fails, no host is acceptable
  // (target_session_attrs) or `deadline` passes. MUST be called once,
  // before anything else.
  boost::asio::awaitable<void> connect(Clock::time_point deadline);

  // Runs one statement in one round trip (its Prepare, on first use, rides
  // in the same round trip). Throws pg::Error: the server's error, or
  // kQueryCanceled when `deadline` passes (the query is then cancelled on the
  // server and this connection closed), or kConnection.
  boost::asio::awaitable<Result> execute(const std::string& sql, const Params& params,
                                         Clock::time_point deadline);

  // Sends every statement, then reads every result: one round trip.
  // A Sync follows each statement whose index is in `sync_after` (ascending)
  // and the last one. Statements between two Syncs form one implicit
  // transaction (unless they BEGIN an explicit one): an error skips the rest
  // of its segment; later segments still run. Statement errors come back in
  // the outcome; only a timeout / transport failure throws (as execute()).
  boost::asio::awaitable<PipelineOutcome> pipeline(std::span<const Statement> statements,
                                                   std::span<const std::size_t> sync_after,
                                                   Clock::time_point deadline);

  // pipeline() with a single Sync at the end; throws the first statement
  // error. (A batch without BEGIN is one implicit transaction.)
  boost::asio::awaitable<std::vector<Result>> execute_batch(std::span<const Statement> statements,
                                                            Clock::time_point deadline);

  // Connected, nothing in flight, no transaction open, never timed out: safe
  // to hand to the next user.
  bool usable() const noexcept;
  bool connected() const noexcept;
  // A transaction block is open on the server (possibly failed).
  bool in_transaction() const noexcept;
  // Closes now (releases the socket from the reactor, then PQfinish).
  // Idempotent. MUST NOT be called while an operation is in flight.
  void close() noexcept;

  // "host:port" of the server actually connected to ("" when not connected):
  // with a multi-host conninfo, the one libpq settled on.
  std::string server_address() const;
  std::size_t prepared_count() const noexcept { return prepared_.size(); }
  const std::string& node() const noexcept { return node_; }
  // An owner's tag (the pool's node epoch at connect time).
  std::uint64_t generation() const noexcept { return generation_; }
  void set_generation(std::uint64_t g) noexcept { generation_ = g; }

 private:
  struct StatementRef {
    const std::string* sql;
    const Params* params;
  };
  boost::asio::awaitable<PipelineOutcome> run_pipeline(std::span<const StatementRef> statements,
                                                       std::span<const std::size_t> sync_after,
                                                       Clock::time_point deadline);
  boost::asio::awaitable<void> flush();
  boost::asio::awaitable<void> read_more();
  // Until PQgetResult will not block.
  boost::asio::awaitable<void> await_result();
  boost::asio::awaitable<void> wait(bool for_write);
  void watch_socket();
  void unwatch_socket() noexcept;
  void after_io() noexcept;
  void arm(Clock::time_point deadline);
  void on_timer();
  [[noreturn]] void fail(const char* what);
  [[noreturn]] void time_out();
  void send_cancel() noexcept;

  boost::asio::io_context& io_;
  std::string conninfo_;
  std::string node_;
  pg_conn* conn_ = nullptr;
  // HAZARD: PQsocket's fd belongs to libpq. It is registered with the reactor
  // only while libpq cannot close it: released (never closed) before every
  // PQconnectPoll (which may close it and open another for the next host)
  // and before PQfinish, and at once when libpq drops a broken connection.
  // Otherwise the reactor would keep a registration for an fd number that
  // the process may reuse for an unrelated socket.
  boost::asio::posix::stream_descriptor socket_;
  boost::asio::steady_timer timer_;
  // Lets the timer's completion handler detect that *this is gone.
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);
  Clock::time_point deadline_{};
  bool timer_armed_ = false;
  bool active_ = false;      // an operation is in flight (the timer watches it)
  bool connecting_ = false;  // the operation is connect()
  bool timed_out_ = false;
  bool broken_ = false;  // a transport failure or an unread result: not reusable
  std::uint64_t next_statement_ = 0;
  std::uint64_t generation_ = 0;
  std::unordered_map<std::string, std::string> prepared_;  // sql → statement name
};

}  // namespace surge::pg
