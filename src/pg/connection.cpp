#include "pg/connection.hpp"

#include <array>
#include <atomic>
#include <poll.h>
#include <thread>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/container/small_vector.hpp>
#include <fmt/format.h>
#include <libpq-fe.h>

#include "log/log.hpp"

// GCC 12 at -O1/-O2 (not at -O3) inlines asio's coroutine-frame allocation
// (a recycling allocator over ::operator new) into run_pipeline() and then
// flags the matching awaitable_frame_base::operator delete as
// -Wmismatched-new-delete: a false positive of its inliner, not a bug here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace surge::pg {

namespace asio = boost::asio;
using asio::awaitable;
using asio::posix::descriptor_base;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Detached cancel threads alive at once: a storm of timeouts must not turn
// into a storm of threads (beyond it, the connection is just closed).
constexpr int kMaxCancelThreads = 8;
std::atomic<int> g_cancel_threads{0};  // NOLINT(*-avoid-non-const-global-variables): a counter

struct PgResultDeleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

// libpq's default notice processor prints to stderr; ours keeps the log JSON.
// A C callback: noexcept, nothing escapes (log::debug never throws).
void notice_processor(void* arg, const char* message) noexcept {
  const auto* node = static_cast<const std::string*>(arg);
  std::string_view msg = message != nullptr ? message : "";
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) {
    msg.remove_suffix(1);
  }
  log::debug("pg notice", {{"node", *node}, {"message", msg}});
}

// libpq's messages span lines ("...\n\tThis probably means..."): one line
// for the JSON log.
std::string one_line(const char* s) {
  std::string out;
  bool space = false;
  for (const char* p = s != nullptr ? s : ""; *p != '\0'; ++p) {
    if (*p == '\n' || *p == '\t' || *p == '\r' || *p == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) {
      out += ' ';
      space = false;
    }
    out += *p;
  }
  return out;
}

const char* field(const PGresult* r, int code) {
  const char* v = PQresultErrorField(r, code);
  return v != nullptr ? v : "";
}

// Clears `active` when an operation ends, however it ends. An aggregate
// scope guard (a user-declared copy would make it a non-aggregate).
struct ActiveScope {  // NOLINT(cppcoreguidelines-special-member-functions)
  bool& active;
  bool& connecting;
  ~ActiveScope() {
    active = false;
    connecting = false;
  }
};

}  // namespace

// ===========================================================================
// Lifetime, socket registration, deadline
// ===========================================================================

Connection::Connection(asio::io_context& io, std::string conninfo, std::string node)
    : io_(io), conninfo_(std::move(conninfo)), node_(std::move(node)), socket_(io), timer_(io) {}

Connection::~Connection() {
  close();
}

void Connection::close() noexcept {
  unwatch_socket();
  if (conn_ != nullptr) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  prepared_.clear();
  broken_ = true;
}

bool Connection::connected() const noexcept {
  return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK;
}

bool Connection::usable() const noexcept {
  return connected() && !broken_ && !timed_out_ && !active_ &&
         PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

bool Connection::in_transaction() const noexcept {
  if (conn_ == nullptr) {
    return false;
  }
  const auto s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR;
}

std::string Connection::server_address() const {
  if (!connected()) {
    return {};
  }
  return fmt::format("{}:{}", PQhost(conn_), PQport(conn_));
}

void Connection::watch_socket() {
  const int fd = PQsocket(conn_);
  if (fd < 0) {
    fail("no socket");
  }
  boost::system::error_code ec;
  socket_.assign(fd, ec);
  if (ec) {
    fail("cannot register the socket");
  }
}

void Connection::unwatch_socket() noexcept {
  if (socket_.is_open()) {
    try {
      (void)socket_.release();  // never close(): the fd is libpq's
    } catch (...) {  // NOLINT(bugprone-empty-catch): release() does not throw in practice
    }
  }
}

// After a libpq call that reads or writes: when libpq found the connection
// broken it has already closed the fd (pqDropConnection); drop our
// registration before anything else runs on this thread.
void Connection::after_io() noexcept {
  if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_BAD) {
    unwatch_socket();
  }
}

// One lazily re-armed timer per connection: starting an operation usually
// only stores the deadline; the timer, when it fires, re-arms itself for the
// current deadline or lapses if the connection went idle.
void Connection::arm(Clock::time_point deadline) {
  deadline_ = deadline;
  timed_out_ = false;
  if (timer_armed_ && timer_.expiry() <= deadline) {
    return;
  }
  timer_.expires_at(deadline);
  timer_armed_ = true;
  timer_.async_wait(
      [this, alive = std::weak_ptr<char>(alive_)](const boost::system::error_code& ec) {
        // Aborted: re-armed or destroyed. A timer that had already expired
        // when *this was destroyed still completes with success: hence alive.
        if (ec || alive.expired()) {
          return;
        }
        on_timer();
      });
}

void Connection::on_timer() {
  timer_armed_ = false;
  if (!active_) {
    return;
  }
  if (Clock::now() >= deadline_) {
    // The operation's coroutine is suspended on a socket wait (the only
    // thing it ever waits for): wake it with operation_aborted.
    timed_out_ = true;
    boost::system::error_code ec;
    socket_.cancel(ec);
    return;
  }
  arm(deadline_);
}

awaitable<void> Connection::wait(bool for_write) {
  const auto [ec] = co_await socket_.async_wait(
      for_write ? descriptor_base::wait_write : descriptor_base::wait_read, kTuple);
  if (timed_out_) {
    time_out();
  }
  if (ec) {
    fail("socket wait failed");
  }
}

void Connection::fail(const char* what) {
  std::string msg =
      fmt::format("pg {}: {}: {}", node_, what,
                  conn_ != nullptr ? one_line(PQerrorMessage(conn_)) : "not connected");
  close();
  throw Error(std::string(), msg, /*connection_lost=*/true);
}

void Connection::time_out() {
  if (connecting_) {
    close();
    throw Error(Error::Class::kConnection, std::string(),
                fmt::format("pg {}: connect timed out", node_));
  }
  send_cancel();
  close();
  throw Error(Error::Class::kQueryCanceled, "57014",
              fmt::format("pg {}: query timed out; cancelled, connection closed", node_));
}

// PQcancel blocks (it opens a new connection to the server), so it runs on a
// short-lived thread, never on the I/O thread. The server then stops the
// query instead of running it to the end for a client that has gone.
void Connection::send_cancel() noexcept {
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    return;
  }
  PGcancel* cancel = PQgetCancel(conn_);
  if (cancel == nullptr) {
    return;
  }
  if (g_cancel_threads.fetch_add(1) >= kMaxCancelThreads) {
    g_cancel_threads.fetch_sub(1);
    PQfreeCancel(cancel);
    return;
  }
  try {
    std::thread([cancel] {
      std::array<char, 256> err{};
      PQcancel(cancel, err.data(), static_cast<int>(err.size()));
      PQfreeCancel(cancel);
      g_cancel_threads.fetch_sub(1);
    }).detach();
  } catch (...) {  // no thread: the server will notice the closed socket eventually
    g_cancel_threads.fetch_sub(1);
    PQfreeCancel(cancel);
  }
}

// ===========================================================================
// Connect
// ===========================================================================

awaitable<void> Connection::connect(Clock::time_point deadline) {
  conn_ = PQconnectStart(conninfo_.c_str());
  if (conn_ == nullptr) {
    throw std::bad_alloc();
  }
  broken_ = false;
  PQsetNoticeProcessor(conn_, &notice_processor, &node_);
  if (PQstatus(conn_) == CONNECTION_BAD) {
    fail("cannot connect");
  }
  active_ = true;
  connecting_ = true;
  const ActiveScope scope{active_, connecting_};
  arm(deadline);
  // libpq: start as if PQconnectPoll had returned PGRES_POLLING_WRITING.
  PostgresPollingStatusType status = PGRES_POLLING_WRITING;
  while (status != PGRES_POLLING_OK) {
    if (status == PGRES_POLLING_FAILED) {
      fail("cannot connect");
    }
    watch_socket();
    co_await wait(status == PGRES_POLLING_WRITING);
    unwatch_socket();  // PQconnectPoll may close this fd (next host)
    status = PQconnectPoll(conn_);
  }
  if (PQsetnonblocking(conn_, 1) != 0) {
    fail("cannot switch to non-blocking mode");
  }
  if (PQenterPipelineMode(conn_) != 1) {
    fail("cannot enter pipeline mode");
  }
  watch_socket();
}

// ===========================================================================
// Queries
// ===========================================================================

// Until everything queued is sent. While the socket is full, also read: a
// server blocked writing results we do not read would never read the rest
// of a long pipeline (libpq's documented deadlock).
awaitable<void> Connection::flush() {
  using namespace asio::experimental::awaitable_operators;  // NOLINT(google-build-using-namespace)
  for (;;) {
    const int r = PQflush(conn_);
    after_io();
    if (r == 0) {
      co_return;
    }
    if (r < 0) {
      fail("send failed");
    }
    co_await (socket_.async_wait(descriptor_base::wait_write, kTuple) ||
              socket_.async_wait(descriptor_base::wait_read, kTuple));
    if (timed_out_) {
      time_out();
    }
    if (PQconsumeInput(conn_) == 0) {
      after_io();
      fail("receive failed");
    }
  }
}

// Reads what the server sent. asio's epoll reactor is edge-triggered and
// PQconsumeInput need not drain the socket, so bytes may already be waiting
// whose edge was consumed: check with poll() before waiting for the next edge.
awaitable<void> Connection::read_more() {
  pollfd p{PQsocket(conn_), POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) {
    co_await wait(/*for_write=*/false);
  }
  if (PQconsumeInput(conn_) == 0) {
    after_io();
    fail("receive failed");
  }
}

awaitable<void> Connection::await_result() {
  while (PQisBusy(conn_) != 0) {
    co_await read_more();
  }
}

awaitable<Result> Connection::execute(const std::string& sql, const Params& params,
                                      Clock::time_point deadline) {
  const StatementRef ref{&sql, &params};
  PipelineOutcome out = co_await run_pipeline({&ref, 1}, {}, deadline);
  if (out.error) {
    throw std::move(*out.error);
  }
  co_return std::move(out.results.front());
}

awaitable<PipelineOutcome> Connection::pipeline(std::span<const Statement> statements,
                                                std::span<const std::size_t> sync_after,
                                                Clock::time_point deadline) {
  boost::container::small_vector<StatementRef, 8> refs;
  refs.reserve(statements.size());
  for (const auto& s : statements) {
    refs.push_back({&s.sql, &s.params});
  }
  co_return co_await run_pipeline(refs, sync_after, deadline);
}

awaitable<std::vector<Result>> Connection::execute_batch(std::span<const Statement> statements,
                                                         Clock::time_point deadline) {
  PipelineOutcome out = co_await pipeline(statements, {}, deadline);
  if (out.error) {
    throw std::move(*out.error);
  }
  co_return std::move(out.results);
}

awaitable<PipelineOutcome> Connection::run_pipeline(std::span<const StatementRef> statements,
                                                    std::span<const std::size_t> sync_after,
                                                    Clock::time_point deadline) {
  if (!connected() || broken_) {
    throw Error(std::string(), fmt::format("pg {}: connection is not open", node_), true);
  }
  if (statements.empty()) {
    co_return PipelineOutcome{};
  }
  active_ = true;
  const ActiveScope scope{active_, connecting_};
  arm(deadline);
  // Until every result is read, a failure leaves unread results behind.
  broken_ = true;

  // --- send -----------------------------------------------------------------
  enum class Kind : std::uint8_t { kPrepare, kQuery, kSync };
  struct Expect {
    Kind kind;
    std::size_t index;  // statement
    const std::string* name = nullptr;
  };
  boost::container::small_vector<Expect, 16> expect;
  // Prepared in this pipeline, confirmed once its result comes back.
  std::unordered_map<std::string, std::string> pending;
  boost::container::small_vector<const char*, 8> values;
  std::size_t next_sync = 0;
  for (std::size_t i = 0; i < statements.size(); ++i) {
    const std::string& sql = *statements[i].sql;
    const Params& params = *statements[i].params;
    values.clear();
    for (const Param& p : params) {
      values.push_back(p ? p->c_str() : nullptr);
    }
    const int n = static_cast<int>(params.size());
    const std::string* name = nullptr;
    if (auto it = prepared_.find(sql); it != prepared_.end()) {
      name = &it->second;
    } else if (auto pit = pending.find(sql); pit != pending.end()) {
      name = &pit->second;
    } else if (prepared_.size() + pending.size() < kMaxPrepared) {
      auto [nit, inserted] = pending.emplace(sql, fmt::format("surge_{}", next_statement_++));
      name = &nit->second;
      if (PQsendPrepare(conn_, name->c_str(), sql.c_str(), n, nullptr) == 0) {
        after_io();
        fail("cannot queue a prepare");
      }
      expect.push_back({Kind::kPrepare, i, name});
    }
    const int sent =
        name != nullptr
            ? PQsendQueryPrepared(conn_, name->c_str(), n, values.data(), nullptr, nullptr, 0)
            : PQsendQueryParams(conn_, sql.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0);
    if (sent == 0) {
      after_io();
      fail("cannot queue a query");
    }
    expect.push_back({Kind::kQuery, i});
    while (next_sync < sync_after.size() && sync_after[next_sync] < i) {
      ++next_sync;
    }
    const bool sync_here =
        i + 1 == statements.size() || (next_sync < sync_after.size() && sync_after[next_sync] == i);
    if (sync_here) {
      if (PQpipelineSync(conn_) == 0) {
        after_io();
        fail("cannot queue a sync");
      }
      expect.push_back({Kind::kSync, i});
    }
  }
  co_await flush();

  // --- receive --------------------------------------------------------------
  PipelineOutcome out;
  out.results.resize(statements.size());
  for (const Expect& e : expect) {
    co_await await_result();
    ResultPtr r(PQgetResult(conn_));
    after_io();
    if (!r) {
      fail("result stream ended early");
    }
    const ExecStatusType st = PQresultStatus(r.get());
    if (e.kind == Kind::kSync) {
      if (st != PGRES_PIPELINE_SYNC) {
        fail("expected a pipeline sync");
      }
      continue;  // a sync result is not followed by a NULL
    }
    switch (st) {
      case PGRES_COMMAND_OK:
      case PGRES_TUPLES_OK:
      case PGRES_EMPTY_QUERY:
        if (e.kind == Kind::kQuery) {
          out.results[e.index] = Result::copy_from(r.get());
        } else {
          prepared_.emplace(*statements[e.index].sql, *e.name);
        }
        break;
      case PGRES_PIPELINE_ABORTED:
        break;  // an earlier statement of this segment failed
      case PGRES_FATAL_ERROR:
      case PGRES_NONFATAL_ERROR: {
        if (PQstatus(conn_) == CONNECTION_BAD) {
          fail("connection lost");
        }
        if (!out.error) {
          std::string msg =
              fmt::format("pg {}: {}", node_, field(r.get(), PG_DIAG_MESSAGE_PRIMARY));
          if (const char* detail = PQresultErrorField(r.get(), PG_DIAG_MESSAGE_DETAIL)) {
            msg += fmt::format(" ({})", detail);
          }
          out.error.emplace(field(r.get(), PG_DIAG_SQLSTATE), std::move(msg), false,
                            field(r.get(), PG_DIAG_CONSTRAINT_NAME));
          out.failed = e.index;
        }
        break;
      }
      default:
        // COPY and single-row mode are not used through this layer.
        fail("unexpected result status");
    }
    // Each statement's results end with a NULL.
    for (;;) {
      co_await await_result();
      ResultPtr extra(PQgetResult(conn_));
      after_io();
      if (!extra) {
        break;
      }
    }
  }
  broken_ = false;
  co_return out;
}

}  // namespace surge::pg
