#pragma once

// Throwaway redis-server processes for live tests (*_redistest.cpp, and the
// *_pgtest.cpp that also need Redis): `count` servers on free loopback
// ports, each with its own folder under a fresh temporary directory, no
// persistence (--save "" --appendonly no), stdio on /dev/null (the log goes
// to <dir>/<i>/redis.log). Each server is SIGKILLed by the destructor and
// dies with the test process even when that is killed (PR_SET_PDEATHSIG).
// One class instead of a copy per test file.
//
// Or, when SURGE_TEST_REDIS="host:port[,host:port...]" is set (and
// Options::from_environment), the first `count` servers it names: nothing
// is started or stopped, and owned() is false — tests that kill and restart
// servers skip then.
//
// The binary is /usr/bin/redis-server; installed() tells whether it is
// there, for tests that skip rather than fail without it.
//
// Blocking (fork/exec, waitpid, connect polling): test code only, never on
// an I/O thread. Thread safety: none; one test thread drives it.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

namespace surge::redis::test_support {

class LocalRedis {
 public:
  struct Options {
    std::size_t count = 1;
    // --enable-debug-command local: DEBUG SLEEP and friends (owned servers
    // only; an external server has whatever its configuration says).
    bool enable_debug_command = false;
    // Use the servers SURGE_TEST_REDIS names when it is set.
    bool from_environment = true;
    // How long a starting server has to accept connections.
    std::chrono::milliseconds start_timeout = std::chrono::seconds(5);
  };

  // Throws std::runtime_error naming the failing step (and the tail of the
  // server's log when it started but never accepted), or when
  // SURGE_TEST_REDIS names fewer than `count` servers.
  explicit LocalRedis(Options options);
  LocalRedis() : LocalRedis(Options{}) {}
  ~LocalRedis();
  LocalRedis(const LocalRedis&) = delete;
  LocalRedis& operator=(const LocalRedis&) = delete;

  // Whether /usr/bin/redis-server exists.
  static bool installed();

  bool owned() const { return owned_; }
  // "127.0.0.1:port" (or as SURGE_TEST_REDIS spells them), `count` of them.
  const std::vector<std::string>& addresses() const { return addresses_; }
  const std::string& address(std::size_t i = 0) const { return addresses_.at(i); }

  // Owned servers only (throws std::logic_error otherwise).
  void kill(std::size_t i);   // SIGKILL (like a crash); nothing if not running
  void start(std::size_t i);  // same port; waits until it accepts connections

 private:
  void spawn(std::size_t i);
  void teardown() noexcept;

  Options options_;
  bool owned_ = false;
  std::filesystem::path dir_;
  std::vector<std::string> addresses_;
  std::vector<std::uint16_t> ports_;
  std::vector<pid_t> pids_;  // -1: not running
};

// A loopback port nobody listens on right now (a later bind may still race).
// Throws std::runtime_error when none can be found.
std::uint16_t free_loopback_port();

}  // namespace surge::redis::test_support
