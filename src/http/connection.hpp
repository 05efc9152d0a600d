#pragma once

// Internal to the HTTP server: one client connection, served by one named
// coroutine (never a capturing lambda: STYLE.md practice 15).
//
// Buffers (kept for the connection's life, so requests allocate nothing):
//
//   in_  [ consumed | message in progress ......... | free ]
//        0          begin_                           end_   capacity
//   out_ responses of every request parsed from one read, written at once
//        (pipelining: 16 requests in → 16 responses out, one write).
//
// Phases, for the sweeper: kIdle (no byte of a next request; idle timeout),
// kReading (part of a request; header timeout), kHandling (a handler runs;
// no timeout — handlers bound their own waits), kWriting (write timeout =
// idle timeout: a client that does not read is dropped), kLingering (our
// side is half-closed after an answer that left input unread; what still
// arrives is discarded for a short while so that closing does not send a
// RST that destroys the answer before the peer reads it).

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "http/coarse_clock.hpp"
#include "http/parser.hpp"
#include "http/request.hpp"
#include "http/response.hpp"
#include "http/worker.hpp"

namespace surge::http {

class Context;

class Connection : public ConnectionHook {
 public:
  enum class Phase : unsigned char { kIdle, kReading, kHandling, kWriting, kLingering };

  Connection(Worker& worker, boost::asio::ip::tcp::socket socket);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Serves requests until the peer closes, an error, a timeout or a drain.
  boost::asio::awaitable<void> serve();

  Phase phase() const { return phase_; }
  CoarseClock::time_point deadline() const { return deadline_; }
  // Closes the socket: a pending read or write completes with an error.
  void abort();

 private:
  void serialize(const Context& ctx, bool head_only);
  void write_error_and_close(Status status, std::string_view message);
  // Writes out_: flush_now() sends what the socket takes at once (kPartial
  // leaves the rest from unsent_from_), flush_rest() awaits the rest, and
  // flush() is both. Hot paths call flush_now() to avoid a coroutine frame.
  enum class Flush : unsigned char { kDone, kPartial, kFailed };
  Flush flush_now();
  boost::asio::awaitable<bool> flush_rest();
  boost::asio::awaitable<bool> flush();
  // After our half-close: reads and drops input until the peer closes, a
  // byte bound or the sweeper's deadline.
  boost::asio::awaitable<void> linger();
  // Room for the next read (compacting or growing in_); nullopt at the
  // hard size limit.
  std::optional<boost::asio::mutable_buffer> input_space();
  void grow_input();

  Worker& worker_;
  boost::asio::ip::tcp::socket socket_;
  RequestParser parser_;
  Request request_;
  Response response_;
  std::unique_ptr<char[]> in_;  // NOLINT(*-avoid-c-arrays): a raw byte buffer, grown by hand
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::string out_;
  std::size_t unsent_from_ = 0;
  Phase phase_ = Phase::kIdle;
  CoarseClock::time_point deadline_{};
  bool close_after_write_ = false;
  bool input_unframed_ = false;  // an error answered mid-request: the rest of it is unread
};

// Entry point spawned per accepted socket.
boost::asio::awaitable<void> run_connection(Worker& worker, boost::asio::ip::tcp::socket socket);

}  // namespace surge::http
