#include "http/connection.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "http/context.hpp"
#include "http/dispatcher.hpp"
#include "http/error.hpp"
#include "http/request_id.hpp"
#include "http/server.hpp"

namespace surge::http {

namespace asio = boost::asio;
using namespace std::string_view_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kInitialBuffer = 4096;
// Flush responses early once this much is queued (a pipelining client that
// never reads must not grow our output without bound).
constexpr std::size_t kFlushThreshold = std::size_t{64} * 1024;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// Lingering close (see linger()): how long and how much input is discarded
// at most. A proxy in front (nginx sends a request's whole body before it
// reads the answer) delivers a body of a few MiB in milliseconds.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = std::size_t{16} * 1024 * 1024;

}  // namespace

Connection::Connection(Worker& worker, asio::ip::tcp::socket socket)
    : worker_(worker),
      socket_(std::move(socket)),
      parser_(worker.settings().max_header_bytes, worker.settings().max_body_bytes),
      in_(std::make_unique<char[]>(kInitialBuffer)),  // NOLINT(*-avoid-c-arrays)
      capacity_(kInitialBuffer) {
  request_.headers.reserve(32);
  out_.reserve(1024);
  boost::system::error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  deadline_ = CoarseClock::now() + worker.settings().idle_timeout;
  worker_.attach(*this);
}

Connection::~Connection() {
  boost::system::error_code ec;
  socket_.close(ec);
  // Leave the worker's list before telling it: a draining worker finishes
  // when its list is empty.
  unlink();
  worker_.connection_closed();
}

void Connection::abort() {
  boost::system::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

// ---------------------------------------------------------------------------
// Response serialisation: straight into out_, no intermediate strings.
// ---------------------------------------------------------------------------

void Connection::serialize(const Context& ctx, bool head_only) {
  const Response& r = ctx.response;
  const bool close = r.close || close_after_write_ || !ctx.request.keep_alive || worker_.draining();
  const bool no_body = r.status == Status::kNotModified || r.status == Status::kNoContent;
  const bool http10 = ctx.request.version == 10;
  if (close) {
    close_after_write_ = true;
  }
  std::array<char, 24> digits{};
  const std::string_view length(
      digits.data(),
      std::to_chars(digits.data(), digits.data() + digits.size(), r.body.size()).ptr -
          digits.data());

  // The head is a dozen pieces: measured in one pass, copied into one
  // resize in the next (an append per piece cost 30 instructions each).
  const auto pieces = [&](auto&& put) {
    put(http10 ? "HTTP/1.0 "sv : "HTTP/1.1 "sv);
    put(status_line(r.status));
    put("\r\nServer: surge\r\nDate: "sv);
    put(worker_.date());
    if (!no_body) {
      put("\r\nContent-Type: "sv);
      put(r.content_type);
      put("\r\nContent-Length: "sv);
      put(length);
    }
    if (!ctx.request_id.empty()) {
      put("\r\nX-Request-Id: "sv);
      put(ctx.request_id);
    }
    if (close) {
      put("\r\nConnection: close"sv);
    } else if (http10) {
      put("\r\nConnection: keep-alive"sv);
    }
    for (const auto& f : r.fields) {
      put("\r\n"sv);
      put(f.name);
      put(": "sv);
      put(f.value);
    }
    put("\r\n\r\n"sv);
    if (!no_body && !head_only) {
      put(std::string_view(r.body));
    }
  };
  std::size_t size = 0;
  pieces([&size](std::string_view piece) { size += piece.size(); });
  const std::size_t at = out_.size();
  out_.resize(at + size);
  char* dst = out_.data() + at;
  pieces([&dst](std::string_view piece) {
    std::memcpy(dst, piece.data(), piece.size());
    dst += piece.size();
  });
}

void Connection::write_error_and_close(Status status, std::string_view message) {
  // The stream is no longer framed: answer without routing, then close.
  response_.clear();
  request_.headers.clear();
  request_.version = 11;
  const bool head_read = parser_.head_complete() || status == Status::kPayloadTooLarge;
  if (head_read) {
    // e.g. 413: the whole head was read (Beast checks a declared length
    // against the limit after the last field, before it calls the head
    // done), so its X-Request-Id is known.
    parser_.build(in_.get() + begin_, request_);
  }
  request_.keep_alive = false;
  Context ctx(request_, response_, socket_.get_executor());
  assign_request_id(ctx);
  if (!head_read) {
    // The parser stopped inside the head (431, 505, a malformed field): the
    // client's id is still in the bytes received, and a client correlating
    // its failures needs it most here. (A view into in_, copied out by
    // serialize() below.)
    if (const auto sent = scan_request_id(std::string_view(in_.get() + begin_, end_ - begin_))) {
      ctx.request_id = *sent;
    }
  }
  const char* const code =
      status == Status::kPayloadTooLarge               ? "payload_too_large"
      : status == Status::kRequestHeaderFieldsTooLarge ? "request_header_fields_too_large"
      : status == Status::kHttpVersionNotSupported     ? "http_version_not_supported"
                                                       : "invalid_request";
  response_.status = status;
  response_.body = error_body(code, message);
  close_after_write_ = true;
  input_unframed_ = true;
  serialize(ctx, false);
}

// ---------------------------------------------------------------------------
// I/O
// ---------------------------------------------------------------------------

Connection::Flush Connection::flush_now() {
  phase_ = Phase::kWriting;
  deadline_ = CoarseClock::now() + worker_.settings().idle_timeout;
  // Almost always the socket buffer takes the responses whole: a direct
  // send, no scheduler trip and no coroutine frame.
  boost::system::error_code ec;
  const std::size_t written = socket_.write_some(asio::buffer(out_), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    unsent_from_ = 0;
    return Flush::kPartial;
  }
  if (ec) {
    return Flush::kFailed;
  }
  if (written < out_.size()) {
    unsent_from_ = written;
    return Flush::kPartial;
  }
  out_.clear();
  return Flush::kDone;
}

asio::awaitable<bool> Connection::flush_rest() {
  auto [ec, n] = co_await asio::async_write(
      socket_, asio::buffer(out_.data() + unsent_from_, out_.size() - unsent_from_), kAsTuple);
  if (ec) {
    co_return false;
  }
  out_.clear();
  co_return true;
}

asio::awaitable<bool> Connection::flush() {
  switch (flush_now()) {
    case Flush::kDone:
      co_return true;
    case Flush::kPartial:
      co_return co_await flush_rest();
    case Flush::kFailed:
      break;
  }
  co_return false;
}

void Connection::grow_input() {
  const auto& s = worker_.settings();
  const std::size_t limit = s.max_header_bytes + s.max_body_bytes + 4096;
  const std::size_t wanted = std::min(std::max(capacity_ * 2, kInitialBuffer), limit);
  auto bigger = std::make_unique<char[]>(wanted);  // NOLINT(*-avoid-c-arrays)
  std::memcpy(bigger.get(), in_.get() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
  in_ = std::move(bigger);
  capacity_ = wanted;
}

std::optional<asio::mutable_buffer> Connection::input_space() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    // A connection that held a big body gives the memory back.
    if (capacity_ > std::size_t{64} * 1024) {
      in_ = std::make_unique<char[]>(kInitialBuffer);  // NOLINT(*-avoid-c-arrays)
      capacity_ = kInitialBuffer;
    }
  } else if (end_ == capacity_ && begin_ > 0) {
    // Move the partial message to the front; the parser keeps offsets from
    // the message start, so this is safe mid-message.
    std::memmove(in_.get(), in_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == capacity_) {
    grow_input();
    if (end_ == capacity_) {
      return std::nullopt;  // at the hard limit; the parser has already failed it
    }
  }
  return asio::buffer(in_.get() + end_, capacity_ - end_);
}

// ---------------------------------------------------------------------------
// The connection's coroutine
// ---------------------------------------------------------------------------

asio::awaitable<void> Connection::serve() {
  const ServerSettings& settings = worker_.settings();
  Dispatcher& dispatcher = worker_.dispatcher();
  const asio::any_io_executor executor = socket_.get_executor();
  bool sent_continue = false;

  while (true) {
    // 1. Answer every complete request already buffered (pipelining).
    while (begin_ < end_) {
      if (parser_.message_size() == 0) {
        // RFC 9112 §2.2: empty lines before a request line are ignored.
        while (begin_ < end_ && (in_[begin_] == '\r' || in_[begin_] == '\n')) {
          ++begin_;
        }
        if (begin_ == end_) {
          break;
        }
      }
      if (phase_ == Phase::kIdle) {
        phase_ = Phase::kReading;
        deadline_ = CoarseClock::now() + settings.header_timeout;
      }
      const auto result = parser_.parse(in_.get() + begin_, end_ - begin_);
      if (result == RequestParser::Result::kNeedMore) {
        if (parser_.head_complete()) {
          // Body in progress: each arriving piece extends the deadline.
          deadline_ = CoarseClock::now() + settings.header_timeout;
        }
        if (parser_.expects_continue() && !sent_continue) {
          out_ += "HTTP/1.1 100 Continue\r\n\r\n";
          sent_continue = true;
        }
        break;
      }
      if (result == RequestParser::Result::kError) {
        worker_.server().count_protocol_error(parser_.error_status());
        write_error_and_close(parser_.error_status(), parser_.error_message());
        break;
      }

      parser_.build(in_.get() + begin_, request_);
      response_.clear();
      Context ctx(request_, response_, executor);
      ctx.started = Clock::now();
      if (const AsyncHandler* handler = dispatcher.begin(ctx)) {
        phase_ = Phase::kHandling;
        try {
          co_await (*handler)(ctx);
        } catch (...) {
          dispatcher.fail(ctx, std::current_exception());
        }
      }
      dispatcher.finish(ctx);
      serialize(ctx, request_.method == Method::kHead);

      begin_ += parser_.message_size();
      parser_.reset();
      sent_continue = false;
      if (begin_ < end_) {
        phase_ = Phase::kReading;
        deadline_ = CoarseClock::now() + settings.header_timeout;
      } else {
        phase_ = Phase::kIdle;
      }
      if (close_after_write_) {
        break;
      }
      if (out_.size() >= kFlushThreshold && !co_await flush()) {
        co_return;
      }
    }

    // 2. One write for everything answered. The common case (the socket
    // takes it all) costs no coroutine frame; the rest is awaited.
    if (!out_.empty()) {
      const Flush flushed = flush_now();
      if (flushed == Flush::kFailed || (flushed == Flush::kPartial && !co_await flush_rest())) {
        co_return;
      }
    }
    if (close_after_write_ || worker_.draining()) {
      // Half-close and let the peer read what we wrote before the socket goes.
      boost::system::error_code ec;
      socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
      if (input_unframed_ || begin_ < end_) {
        co_await linger();
      }
      co_return;
    }

    // 3. Wait for more bytes.
    if (begin_ == end_) {
      phase_ = Phase::kIdle;
      deadline_ = CoarseClock::now() + settings.idle_timeout;
    } else {
      phase_ = Phase::kReading;
    }
    const std::optional<asio::mutable_buffer> space = input_space();
    if (!space) {
      co_return;
    }
    auto [ec, n] = co_await socket_.async_read_some(*space, kAsTuple);
    if (ec || n == 0) {
      co_return;
    }
    end_ += n;
  }
}

asio::awaitable<void> Connection::linger() {
  // Closing a socket whose receive queue is not empty sends a RST, and a
  // RST makes the peer's stack drop what it has not read yet: our answer.
  // That is the case after an early answer such as 413 for a declared body
  // over the limit while the body is still on its way (RFC 9112 §9.6).
  phase_ = Phase::kLingering;
  deadline_ = CoarseClock::now() + kLingerTime;
  std::size_t discarded = 0;
  while (discarded < kLingerBytes) {
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(in_.get(), capacity_), kAsTuple);
    if (ec || n == 0) {
      co_return;
    }
    discarded += n;
  }
}

asio::awaitable<void> run_connection(Worker& worker, asio::ip::tcp::socket socket) {
  Connection connection(worker, std::move(socket));
  co_await connection.serve();
}

}  // namespace surge::http
