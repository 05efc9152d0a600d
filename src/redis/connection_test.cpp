// Connection against an in-process fake Redis (no server needed): pipelining
// order, batching, timeouts, lazy reconnect, protocol errors, push mode.
#include "redis/connection.hpp"

#include <array>
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include "redis/reply_reader.hpp"

namespace surge::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

// ---------------------------------------------------------------------------
// A fake server driven by the commands it receives:
//   PING → +PONG     ECHO x → $x      HANG → stops answering this connection
//   QUIT → closes    EXTRA → two replies    GARBAGE → unparsable bytes
//   PUSHME x → +OK and then the push array ["message","ch",x]
// ---------------------------------------------------------------------------

struct FakeStats {
  int connections = 0;
  int reads = 0;
  int commands = 0;
};

asio::awaitable<void> serve_one(asio::ip::tcp::socket socket, std::shared_ptr<FakeStats> stats) {
  const ReplyReader reader = make_reply_reader();
  std::array<char, 4096> buf{};
  bool hung = false;
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), kAsTuple);
    if (ec) {
      co_return;
    }
    ++stats->reads;
    redisReaderFeed(reader.get(), buf.data(), n);
    std::string out;
    bool close = false;
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK || raw == nullptr) {
        break;
      }
      const Reply request = take_reply(raw);
      ++stats->commands;
      const auto& args = request.as_array();
      const std::string& name = args.at(0).as_string();
      if (hung) {
        continue;
      }
      if (name == "PING") {
        out += "+PONG\r\n";
      } else if (name == "ECHO") {
        const std::string& v = args.at(1).as_string();
        out += "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
      } else if (name == "HANG") {
        hung = true;
      } else if (name == "QUIT") {
        close = true;
        break;
      } else if (name == "EXTRA") {
        out += "+OK\r\n+OK\r\n";
      } else if (name == "GARBAGE") {
        out += "?garbage\r\n";
      } else if (name == "PUSHME") {
        const std::string& v = args.at(1).as_string();
        out += "+OK\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$" + std::to_string(v.size()) + "\r\n" +
               v + "\r\n";
      } else {
        out += "-ERR unknown command '" + name + "'\r\n";
      }
    }
    if (!out.empty()) {
      co_await asio::async_write(socket, asio::buffer(out), kAsTuple);
    }
    if (close) {
      co_return;
    }
  }
}

asio::awaitable<void> accept_loop(asio::ip::tcp::acceptor& acceptor,
                                  std::shared_ptr<FakeStats> stats) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kAsTuple);
    if (ec) {
      co_return;
    }
    ++stats->connections;
    asio::co_spawn(acceptor.get_executor(), serve_one(std::move(socket), stats), asio::detached);
  }
}

class FakeRedis {
 public:
  explicit FakeRedis(asio::io_context& io)
      : acceptor_(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(io, accept_loop(acceptor_, stats_), asio::detached);
  }
  ~FakeRedis() { close(); }
  void close() {
    boost::system::error_code ec;
    acceptor_.close(ec);
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  const FakeStats& stats() const { return *stats_; }

 private:
  asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<FakeStats> stats_ = std::make_shared<FakeStats>();
};

// Timeouts far beyond anything a loaded machine needs, so only the tests
// about timeouts (which set their own) ever see one.
ConnectionSettings settings_for(std::uint16_t port) {
  ConnectionSettings s;
  s.address = Address{"127.0.0.1", port};
  s.connect_timeout = 5s;
  s.command_timeout = 5s;
  return s;
}

// Runs `body` on `io` until it finishes; rethrows what it threw.
void run(asio::io_context& io, asio::awaitable<void> body) {
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(io, std::move(body), [&](std::exception_ptr e) {
    error = e;
    done = true;
    io.stop();
  });
  io.run_for(10s);
  io.restart();
  ASSERT_TRUE(done) << "test body did not finish";
  if (error) {
    std::rethrow_exception(error);
  }
}

class RecordingObserver : public Connection::Observer {
 public:
  void on_connected(Connection&) noexcept override { ++connected; }
  void on_disconnected(Connection&) noexcept override { ++disconnected; }
  void on_failure(Connection&, const Error& e) noexcept override {
    ++failures;
    last_kind = e.kind();
  }
  void on_push(Connection&, Reply&& r) noexcept override { pushes.push_back(std::move(r)); }
  int connected = 0;
  int disconnected = 0;
  int failures = 0;
  Error::Kind last_kind = Error::Kind::kProtocol;
  std::vector<Reply> pushes;
};

// ---------------------------------------------------------------------------

asio::awaitable<void> echo_caller(std::shared_ptr<Connection> c, int i, std::shared_ptr<int> ok) {
  const std::string v = "v" + std::to_string(i);
  const Reply r = co_await c->execute(Command{"ECHO", v});
  EXPECT_EQ(r.as_string(), v);
  ++*ok;
}

asio::awaitable<void> concurrent_callers(std::shared_ptr<Connection> c, std::shared_ptr<int> ok) {
  for (int i = 0; i < 200; ++i) {
    asio::co_spawn(c->context(), echo_caller(c, i, ok), asio::detached);
  }
  asio::steady_timer t(c->context());
  for (int spins = 0; *ok < 200 && spins < 2500; ++spins) {
    t.expires_after(2ms);
    co_await t.async_wait(kAsTuple);
  }
}

TEST(RedisConnection, ConcurrentCallersGetTheirOwnRepliesInOneBatch) {
  asio::io_context io(1);
  FakeRedis server(io);
  auto c = Connection::create(io, settings_for(server.port()));
  auto ok = std::make_shared<int>(0);
  run(io, concurrent_callers(c, ok));
  EXPECT_EQ(*ok, 200);
  EXPECT_EQ(server.stats().connections, 1);
  // Everything queued before the connect completed left in one write.
  EXPECT_LE(server.stats().reads, 3);
  c->shutdown();
}

asio::awaitable<void> pipeline_in_order(std::shared_ptr<Connection> c) {
  std::vector<Command> cmds;
  for (int i = 0; i < 1000; ++i) {
    cmds.push_back(Command{"ECHO", std::to_string(i)});
  }
  const auto replies = co_await c->execute(std::move(cmds));
  EXPECT_EQ(replies.size(), 1000U);
  for (std::size_t i = 0; i < replies.size(); ++i) {
    EXPECT_EQ(replies[i].as_string(), std::to_string(i));
  }
  const auto none = co_await c->execute(std::vector<Command>{});
  EXPECT_TRUE(none.empty());
  // An error reply is a value here, not an exception.
  const Reply r = co_await c->execute(Command{"NOPE"});
  EXPECT_EQ(r.error_prefix(), "ERR");
}

TEST(RedisConnection, PipelineRepliesInOrder) {
  asio::io_context io(1);
  FakeRedis server(io);
  auto c = Connection::create(io, settings_for(server.port()));
  run(io, pipeline_in_order(c));
  c->shutdown();
}

asio::awaitable<void> hang_then_recover(std::shared_ptr<Connection> c,
                                        std::shared_ptr<RecordingObserver> obs) {
  // Two callers in flight on a connection that stops answering: both fail
  // with a timeout, the session ends, and the next call reconnects.
  const Connection::Ticket a = c->submit(Command{"HANG"}.bytes());
  const Connection::Ticket b = c->submit(Command{"PING"}.bytes());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(co_await Connection::wait_one(a), TimeoutError);
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 190ms);
  EXPECT_LT(waited, 3s);  // the command timeout, not the 5 s connect timeout
  EXPECT_THROW(co_await Connection::wait_one(b), TimeoutError);
  EXPECT_EQ(obs->failures, 1);  // one session failure, whatever the callers
  EXPECT_EQ(obs->last_kind, Error::Kind::kTimeout);
  EXPECT_EQ(c->state(), Connection::State::kIdle);
  const Reply r = co_await c->execute(Command{"PING"});
  EXPECT_EQ(r.as_string(), "PONG");
  EXPECT_EQ(obs->connected, 2);
  EXPECT_EQ(obs->disconnected, 1);
}

TEST(RedisConnection, TimeoutFailsTheSessionAndReconnectsLazily) {
  asio::io_context io(1);
  FakeRedis server(io);
  auto obs = std::make_shared<RecordingObserver>();
  ConnectionSettings s = settings_for(server.port());
  s.command_timeout = 200ms;
  auto c = Connection::create(io, s, obs);
  run(io, hang_then_recover(c, obs));
  EXPECT_EQ(server.stats().connections, 2);
  c->shutdown();
}

asio::awaitable<void> server_closes(std::shared_ptr<Connection> c) {
  EXPECT_THROW(co_await c->execute(Command{"QUIT"}), ConnectionError);
  const Reply r = co_await c->execute(Command{"ECHO", "again"});
  EXPECT_EQ(r.as_string(), "again");
}

TEST(RedisConnection, ServerCloseFailsPendingAndReconnects) {
  asio::io_context io(1);
  FakeRedis server(io);
  auto c = Connection::create(io, settings_for(server.port()));
  run(io, server_closes(c));
  c->shutdown();
}

asio::awaitable<void> protocol_errors(std::shared_ptr<Connection> c,
                                      std::shared_ptr<RecordingObserver> obs) {
  // A second reply nobody asked for: the stream is out of step.
  const Reply first = co_await c->execute(Command{"EXTRA"});
  EXPECT_EQ(first.as_string(), "OK");
  asio::steady_timer t(c->context());
  for (int i = 0; i < 5000 && obs->failures == 0; ++i) {
    t.expires_after(1ms);
    co_await t.async_wait(kAsTuple);
  }
  EXPECT_EQ(obs->last_kind, Error::Kind::kProtocol);
  EXPECT_THROW(co_await c->execute(Command{"GARBAGE"}), ProtocolError);
  const Reply r = co_await c->execute(Command{"PING"});
  EXPECT_EQ(r.as_string(), "PONG");
}

TEST(RedisConnection, ProtocolErrorsEndTheSession) {
  asio::io_context io(1);
  FakeRedis server(io);
  auto obs = std::make_shared<RecordingObserver>();
  auto c = Connection::create(io, settings_for(server.port()), obs);
  run(io, protocol_errors(c, obs));
  c->shutdown();
}

asio::awaitable<void> refused(std::shared_ptr<Connection> c,
                              std::shared_ptr<RecordingObserver> obs) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    co_await c->execute(Command{"PING"});
    ADD_FAILURE() << "no throw";
  } catch (const ConnectionError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot connect"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);  // not the 5 s connect timeout
  EXPECT_EQ(obs->failures, 1);
  EXPECT_EQ(obs->connected, 0);
  EXPECT_EQ(obs->disconnected, 0);
}

TEST(RedisConnection, RefusedConnectFailsFast) {
  asio::io_context io(1);
  std::uint16_t port = 0;
  {
    asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  auto obs = std::make_shared<RecordingObserver>();
  auto c = Connection::create(io, settings_for(port), obs);
  run(io, refused(c, obs));
}

asio::awaitable<void> connect_hangs(std::shared_ptr<Connection> c,
                                    std::shared_ptr<RecordingObserver> obs) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    co_await c->execute(Command{"PING"});
    ADD_FAILURE() << "no throw";
  } catch (const TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("connect to"), std::string::npos) << e.what();
  }
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 90ms);
  EXPECT_LT(waited, 3s);  // connect_timeout, before the 5 s command timeout
  EXPECT_EQ(obs->last_kind, Error::Kind::kTimeout);
  EXPECT_EQ(c->state(), Connection::State::kIdle);
}

TEST(RedisConnection, ConnectTimeout) {
  // A listener with a full accept queue: the kernel drops further SYNs, so a
  // connect hangs (no routing tricks needed).
  asio::io_context io(1);
  asio::ip::tcp::acceptor full(io);
  const asio::ip::tcp::endpoint any(asio::ip::make_address("127.0.0.1"), 0);
  full.open(any.protocol());
  full.bind(any);
  full.listen(0);
  const asio::ip::tcp::endpoint target(any.address(), full.local_endpoint().port());
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> fillers;
  for (int i = 0; i < 8; ++i) {
    fillers.push_back(std::make_unique<asio::ip::tcp::socket>(io));
    bool connected = false;
    fillers.back()->async_connect(target,
                                  [&](const boost::system::error_code& ec) { connected = !ec; });
    // A connect the queue accepts completes at once; one it drops never does.
    for (int waited = 0; !connected && waited < 10; ++waited) {
      io.run_for(30ms);
      io.restart();
    }
    if (!connected) {
      break;
    }
  }
  auto obs = std::make_shared<RecordingObserver>();
  ConnectionSettings s = settings_for(target.port());
  s.connect_timeout = 100ms;
  auto c = Connection::create(io, s, obs);
  run(io, connect_hangs(c, obs));
}

asio::awaitable<void> after_shutdown(std::shared_ptr<Connection> c) {
  const Connection::Ticket t = c->submit(Command{"HANG"}.bytes());
  c->shutdown();
  EXPECT_THROW(co_await Connection::wait_one(t), ConnectionError);
  EXPECT_THROW(co_await c->execute(Command{"PING"}), ConnectionError);
  EXPECT_EQ(c->state(), Connection::State::kShutdown);
}

TEST(RedisConnection, ShutdownFailsWaitersAndRefusesCalls) {
  asio::io_context io(1);
  FakeRedis server(io);
  auto obs = std::make_shared<RecordingObserver>();
  auto c = Connection::create(io, settings_for(server.port()), obs);
  run(io, after_shutdown(c));
  EXPECT_EQ(obs->failures, 0);  // shutdown is not a failure
}

asio::awaitable<void> push_mode(std::shared_ptr<Connection> c,
                                std::shared_ptr<RecordingObserver> obs) {
  c->send(Command{"PUSHME", "hello"}.bytes());
  asio::steady_timer t(c->context());
  for (int i = 0; i < 5000 && obs->pushes.size() < 2; ++i) {
    t.expires_after(1ms);
    co_await t.async_wait(kAsTuple);
  }
  EXPECT_THROW(c->submit(Command{"PING"}.bytes()), std::logic_error);
}

TEST(RedisConnection, PushModeHandsEveryReplyToTheObserver) {
  asio::io_context io(1);
  FakeRedis server(io);
  auto obs = std::make_shared<RecordingObserver>();
  ConnectionSettings s = settings_for(server.port());
  s.push_mode = true;
  auto c = Connection::create(io, s, obs);
  run(io, push_mode(c, obs));
  ASSERT_EQ(obs->pushes.size(), 2U);
  EXPECT_EQ(obs->pushes[0], Reply::status("OK"));
  EXPECT_EQ(obs->pushes[1],
            Reply::array({Reply::string("message"), Reply::string("ch"), Reply::string("hello")}));
  c->shutdown();
}

TEST(RedisConnection, DestroyingTheIoContextWithCallsInFlightFreesEverything) {
  // No shutdown(): pending operations belong to the io_context, so its
  // destruction releases the coroutines and the connection (ASan checks).
  std::weak_ptr<Connection> weak;
  {
    asio::io_context io(1);
    FakeRedis server(io);
    auto c = Connection::create(io, settings_for(server.port()));
    weak = c;
    asio::co_spawn(io, c->execute(Command{"HANG"}), asio::detached);
    io.run_for(50ms);
  }
  EXPECT_TRUE(weak.expired());
}

}  // namespace
}  // namespace surge::redis
