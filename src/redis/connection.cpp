#include "redis/connection.hpp"

#include <array>
#include <charconv>
#include <deque>
#include <exception>
#include <stdexcept>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include "redis/reply_reader.hpp"

namespace surge::redis {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// hiredis copies what it is fed, so this buffer is only the size of one read.
constexpr std::size_t kReadBuffer = std::size_t{16} * 1024;

}  // namespace

// ===========================================================================
// Addresses
// ===========================================================================

std::string Address::text() const {
  if (host.find(':') != std::string::npos) {
    return fmt::format("[{}]:{}", host, port);
  }
  return fmt::format("{}:{}", host, port);
}

Address parse_address(std::string_view text) {
  const auto bad = [&] {
    return std::invalid_argument(fmt::format("bad redis address '{}': want host:port", text));
  };
  Address out;
  std::string_view host = text;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      throw bad();
    }
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        throw bad();
      }
      port = rest.substr(1);
      if (port.empty()) {
        throw bad();
      }
    }
  } else if (const std::size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    if (text.find(':') != colon) {
      throw bad();  // a bare IPv6 address: brackets are required
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) {
      throw bad();
    }
  }
  if (host.empty()) {
    throw bad();
  }
  out.host = std::string(host);
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      throw bad();
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  return out;
}

// ===========================================================================
// Session and waiter state
// ===========================================================================

// One TCP connection's life. Owned by the Connection (while current) and by
// its coroutines; everything in it is touched by the connection's thread only.
struct Connection::Session {
  explicit Session(asio::io_context& io) : socket(io), resolver(io), guard(io), wake(io) {}

  asio::ip::tcp::socket socket;
  asio::ip::tcp::resolver resolver;
  asio::steady_timer guard;  // connect timeout
  asio::steady_timer wake;   // wakes the idle writer
  ReplyReader reader;        // yields Reply objects (reply_reader.hpp)
  std::string out;           // queued, not yet handed to the socket
  std::string writing;       // the batch being written (swapped with out)
  std::deque<std::shared_ptr<Waiter>> waiters;
  std::array<char, kReadBuffer> in{};
  bool open = false;
  bool closed = false;
  bool writer_idle = false;
};

// One submit(): the replies it expects and, while unanswered, its deadline.
// The timer is both the timeout and the wake-up: complete() cancels it, which
// resumes the awaiting coroutine on the connection's executor.
struct Connection::Waiter {
  Waiter(asio::io_context& io, std::size_t replies)
      : timer(io), remaining(replies), expected(replies) {
    if (replies > 1) {
      many.reserve(replies);
    }
  }
  void complete() {
    done = true;
    timer.cancel();
  }

  asio::steady_timer timer;
  std::size_t remaining;
  std::size_t expected;
  Reply single;             // expected == 1
  std::vector<Reply> many;  // expected > 1
  std::exception_ptr error;
  bool done = false;
};

// ===========================================================================
// Construction and public operations
// ===========================================================================

std::shared_ptr<Connection> Connection::create(asio::io_context& io, ConnectionSettings settings,
                                               std::shared_ptr<Observer> observer) {
  return std::make_shared<Connection>(Private{}, io, std::move(settings), std::move(observer));
}

Connection::Connection(Private /*tag*/, asio::io_context& io, ConnectionSettings settings,
                       std::shared_ptr<Observer> observer)
    : io_(io),
      settings_(std::move(settings)),
      address_text_(settings_.address.text()),
      observer_(std::move(observer)) {}

// Only reached once no coroutine and no ticket refers to this connection; the
// session (if any) is closed by its own members' destructors.
Connection::~Connection() = default;

Connection::State Connection::state() const noexcept {
  if (shutdown_) {
    return State::kShutdown;
  }
  if (!session_) {
    return State::kIdle;
  }
  return session_->open ? State::kOpen : State::kConnecting;
}

std::size_t Connection::in_flight() const noexcept {
  return session_ ? session_->waiters.size() : 0;
}

std::shared_ptr<Connection::Session> Connection::ensure_session() {
  if (!session_) {
    session_ = std::make_shared<Session>(io_);
    // co_spawn posts the start: whatever the caller queues next goes into
    // this session before the connect even begins.
    asio::co_spawn(io_, run_session(shared_from_this(), session_), asio::detached);
  }
  return session_;
}

void Connection::kick(Session& s) {
  if (s.open && s.writer_idle) {
    s.writer_idle = false;
    s.wake.cancel();
  }
}

Connection::Ticket Connection::submit(std::string_view bytes, std::size_t replies) {
  if (shutdown_) {
    throw ConnectionError(fmt::format("redis connection to {} is shut down", address_text_));
  }
  if (settings_.push_mode) {
    throw std::logic_error("redis::Connection::submit on a push-mode connection");
  }
  if (replies == 0) {
    throw std::invalid_argument("redis::Connection::submit expects at least one reply");
  }
  const std::shared_ptr<Session> s = ensure_session();
  Ticket t;
  t.conn_ = shared_from_this();
  t.waiter_ = std::make_shared<Waiter>(io_, replies);
  t.waiter_->timer.expires_after(settings_.command_timeout);
  s->out.append(bytes);
  s->waiters.push_back(t.waiter_);
  kick(*s);
  return t;
}

void Connection::send(std::string_view bytes) {
  if (shutdown_) {
    return;
  }
  const std::shared_ptr<Session> s = ensure_session();
  s->out.append(bytes);
  kick(*s);
}

void Connection::open() {
  if (!shutdown_) {
    ensure_session();
  }
}

void Connection::abort(std::string_view reason) {
  if (session_) {
    fail_session(session_, ConnectionError(fmt::format("{}: {}", address_text_, reason)));
  }
}

void Connection::shutdown() {
  shutdown_ = true;
  if (session_) {
    fail_session(session_,
                 ConnectionError(fmt::format("redis connection to {} is shut down", address_text_)),
                 /*report=*/false);
  }
}

// ===========================================================================
// Waiting
// ===========================================================================

void Connection::settle(Waiter& w) {
  if (!w.done) {
    // The deadline passed with the reply still owed. An unanswered waiter is
    // always in the current session (ending a session completes all of its
    // waiters), so this ends that session and fails every waiter in it.
    if (session_) {
      fail_session(session_,
                   TimeoutError(fmt::format("{} did not answer within {} ms", address_text_,
                                            settings_.command_timeout.count())));
    }
    if (!w.done) {
      w.error = std::make_exception_ptr(TimeoutError(fmt::format(
          "{} did not answer within {} ms", address_text_, settings_.command_timeout.count())));
      w.done = true;
    }
  }
  if (w.error) {
    std::rethrow_exception(w.error);
  }
}

asio::awaitable<Reply> Connection::wait_one(Ticket ticket) {
  Waiter& w = *ticket.waiter_;
  if (w.expected != 1) {
    throw std::logic_error("redis::Connection::wait_one on a multi-reply ticket");
  }
  if (!w.done) {
    co_await w.timer.async_wait(kAsTuple);
  }
  ticket.conn_->settle(w);
  co_return std::move(w.single);
}

asio::awaitable<std::vector<Reply>> Connection::wait_all(Ticket ticket) {
  Waiter& w = *ticket.waiter_;
  if (!w.done) {
    co_await w.timer.async_wait(kAsTuple);
  }
  ticket.conn_->settle(w);
  if (w.expected == 1) {
    std::vector<Reply> one;
    one.push_back(std::move(w.single));
    co_return one;
  }
  co_return std::move(w.many);
}

asio::awaitable<Reply> Connection::execute(Command command) {
  return execute_one(shared_from_this(), std::move(command));
}

asio::awaitable<std::vector<Reply>> Connection::execute(std::vector<Command> commands) {
  return execute_many(shared_from_this(), std::move(commands));
}

asio::awaitable<Reply> Connection::execute_one(std::shared_ptr<Connection> self, Command command) {
  co_return co_await wait_one(self->submit(command.bytes(), 1));
}

asio::awaitable<std::vector<Reply>> Connection::execute_many(std::shared_ptr<Connection> self,
                                                             std::vector<Command> commands) {
  if (commands.empty()) {
    co_return std::vector<Reply>{};
  }
  std::size_t size = 0;
  for (const Command& c : commands) {
    size += c.bytes().size();
  }
  std::string bytes;
  bytes.reserve(size);
  for (const Command& c : commands) {
    bytes += c.bytes();
  }
  co_return co_await wait_all(self->submit(bytes, commands.size()));
}

// ===========================================================================
// Session coroutines: connect, write, read
// ===========================================================================

template <typename E>
void Connection::fail_session(const std::shared_ptr<Session>& s, const E& cause, bool report) {
  if (s->closed) {
    return;
  }
  s->closed = true;
  const bool was_open = s->open;
  s->open = false;
  boost::system::error_code ignored;
  s->socket.close(ignored);
  s->resolver.cancel();
  s->guard.cancel();
  s->wake.cancel();
  s->out.clear();
  std::deque<std::shared_ptr<Waiter>> waiters = std::move(s->waiters);
  s->waiters.clear();
  if (session_ == s) {
    session_.reset();
  }
  if (!waiters.empty()) {
    const std::exception_ptr error = std::make_exception_ptr(cause);
    for (const auto& w : waiters) {
      w->error = error;
      w->complete();
    }
  }
  if (observer_) {
    if (report) {
      observer_->on_failure(*this, cause);
    }
    if (was_open) {
      observer_->on_disconnected(*this);
    }
  }
}

void Connection::deliver(const std::shared_ptr<Session>& s, Reply&& reply) {
  if (settings_.push_mode) {
    if (observer_) {
      observer_->on_push(*this, std::move(reply));
    }
    return;
  }
  if (s->waiters.empty()) {
    fail_session(s, ProtocolError(fmt::format("{} sent a reply nobody asked for: {}", address_text_,
                                              reply.debug_string())));
    return;
  }
  Waiter& w = *s->waiters.front();
  if (w.expected == 1) {
    w.single = std::move(reply);
  } else {
    w.many.push_back(std::move(reply));
  }
  if (--w.remaining == 0) {
    w.complete();
    s->waiters.pop_front();
  }
}

asio::awaitable<void> Connection::run_session(std::shared_ptr<Connection> self,
                                              std::shared_ptr<Session> s) {
  if (s->closed) {
    co_return;
  }
  // The guard ends the session if the connect (resolve included) takes too
  // long; closing the socket makes the pending operation finish at once.
  s->guard.expires_after(self->settings_.connect_timeout);
  s->guard.async_wait([self, s](const boost::system::error_code& ec) {
    if (!ec && !s->open) {
      self->fail_session(
          s, TimeoutError(fmt::format("connect to {} timed out after {} ms", self->address_text_,
                                      self->settings_.connect_timeout.count())));
    }
  });

  boost::system::error_code ec;
  const Address& a = self->settings_.address;
  const asio::ip::address ip = asio::ip::make_address(a.host, ec);
  if (!ec) {
    std::tie(ec) = co_await s->socket.async_connect(asio::ip::tcp::endpoint(ip, a.port), kAsTuple);
  } else {
    // A name: resolve on Asio's resolver thread, never block this one.
    auto [rec, endpoints] =
        co_await s->resolver.async_resolve(a.host, std::to_string(a.port), kAsTuple);
    ec = rec;
    if (!ec && !s->closed) {
      std::tie(ec, std::ignore) = co_await asio::async_connect(s->socket, endpoints, kAsTuple);
    }
  }
  s->guard.cancel();
  if (s->closed) {
    co_return;  // timed out, aborted or shut down meanwhile; waiters already failed
  }
  if (ec) {
    self->fail_session(s, ConnectionError(fmt::format("cannot connect to {}: {}",
                                                      self->address_text_, ec.message())));
    co_return;
  }

  s->socket.set_option(asio::ip::tcp::no_delay(true), ec);
  s->socket.set_option(asio::socket_base::keep_alive(true), ec);
  s->reader = make_reply_reader();
  if (!s->reader) {
    self->fail_session(s, ConnectionError("out of memory creating a redisReader"));
    co_return;
  }
  s->open = true;
  self->last_read_ = Clock::now();
  if (self->observer_) {
    self->observer_->on_connected(*self);
  }
  if (s->closed) {
    co_return;
  }
  asio::co_spawn(self->io_, read_loop(self, s), asio::detached);
  co_await write_loop(std::move(self), std::move(s));
}

asio::awaitable<void> Connection::write_loop(std::shared_ptr<Connection> self,
                                             std::shared_ptr<Session> s) {
  while (!s->closed) {
    if (s->out.empty()) {
      s->writer_idle = true;
      s->wake.expires_at(Clock::time_point::max());
      co_await s->wake.async_wait(kAsTuple);
      s->writer_idle = false;
      continue;
    }
    // Everything queued since the last write goes out in one write; callers
    // keep appending to the (now empty) out buffer meanwhile.
    std::swap(s->out, s->writing);
    auto [ec, n] = co_await asio::async_write(s->socket, asio::buffer(s->writing), kAsTuple);
    if (s->closed) {
      co_return;
    }
    if (ec) {
      self->fail_session(s, ConnectionError(fmt::format("write to {} failed: {}",
                                                        self->address_text_, ec.message())));
      co_return;
    }
    s->writing.clear();
  }
}

asio::awaitable<void> Connection::read_loop(std::shared_ptr<Connection> self,
                                            std::shared_ptr<Session> s) {
  while (!s->closed) {
    auto [ec, n] = co_await s->socket.async_read_some(asio::buffer(s->in), kAsTuple);
    if (s->closed) {
      co_return;
    }
    if (ec) {
      self->fail_session(
          s, ConnectionError(
                 ec == asio::error::eof
                     ? fmt::format("{} closed the connection", self->address_text_)
                     : fmt::format("read from {} failed: {}", self->address_text_, ec.message())));
      co_return;
    }
    self->last_read_ = Clock::now();
    redisReader* reader = s->reader.get();
    if (redisReaderFeed(reader, s->in.data(), n) != REDIS_OK) {
      self->fail_session(s, ProtocolError(fmt::format("{}: {}", self->address_text_,
                                                      redisReaderGetError(reader))));
      co_return;
    }
    try {
      for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
          self->fail_session(s,
                             ProtocolError(fmt::format("bad reply from {}: {}", self->address_text_,
                                                       redisReaderGetError(reader))));
          co_return;
        }
        if (raw == nullptr) {
          break;  // need more bytes
        }
        self->deliver(s, take_reply(raw));
        if (s->closed) {
          co_return;
        }
      }
    } catch (const Error& e) {
      self->fail_session(s, ProtocolError(e.what()));
    } catch (const std::exception& e) {
      self->fail_session(s, ConnectionError(fmt::format("{}: {}", self->address_text_, e.what())));
    }
  }
}

}  // namespace surge::redis
