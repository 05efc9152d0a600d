#include "redis/test_support/local_servers.hpp"

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>

#include <fmt/format.h>

namespace surge::redis::test_support {

namespace fs = std::filesystem;

namespace {

constexpr const char* kRedisServer = "/usr/bin/redis-server";

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return addr;
}

std::vector<std::string> split_addresses(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = list.find(',', start);
    std::string item =
        list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) {
      out.push_back(std::move(item));
    }
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  return out;
}

std::string tail(const fs::path& file, std::size_t max_bytes = 3000) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

// Whether something accepts TCP connections on 127.0.0.1:`port`.
bool accepts(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error("redistest: socket() failed");
  }
  const sockaddr_in addr = loopback(port);
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::close(fd);
  return rc == 0;
}

}  // namespace

std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error("redistest: socket() failed");
  }
  sockaddr_in addr = loopback(0);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("redistest: cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool LocalRedis::installed() {
  std::error_code ec;
  return fs::exists(kRedisServer, ec);
}

LocalRedis::LocalRedis(Options options) : options_(options) {
  if (const char* env = std::getenv("SURGE_TEST_REDIS");
      options_.from_environment && env != nullptr && *env != '\0') {
    addresses_ = split_addresses(env);
    if (addresses_.size() < options_.count) {
      throw std::runtime_error(
          fmt::format("redistest: SURGE_TEST_REDIS names {} server(s), the test needs {}",
                      addresses_.size(), options_.count));
    }
    addresses_.resize(options_.count);
    return;
  }
  owned_ = true;
  if (!installed()) {
    throw std::runtime_error(
        fmt::format("redistest: no {} (install redis-server), or point SURGE_TEST_REDIS at "
                    "servers",
                    kRedisServer));
  }
  std::string templ = (fs::temp_directory_path() / "surge-redistest-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) {
    throw std::runtime_error("redistest: mkdtemp failed");
  }
  dir_ = templ;
  try {
    for (std::size_t i = 0; i < options_.count; ++i) {
      ports_.push_back(free_loopback_port());
      pids_.push_back(-1);
      addresses_.push_back(fmt::format("127.0.0.1:{}", ports_.back()));
      spawn(i);
    }
  } catch (...) {
    teardown();  // kill what started, remove the dir
    throw;
  }
}

LocalRedis::~LocalRedis() {
  teardown();
}

void LocalRedis::teardown() noexcept {
  if (!owned_) {
    return;
  }
  for (pid_t& pid : pids_) {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
      pid = -1;
    }
  }
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    dir_.clear();
  }
}

void LocalRedis::kill(std::size_t i) {
  if (!owned_) {
    throw std::logic_error("redistest: the servers are not ours to kill");
  }
  if (pids_.at(i) > 0) {
    ::kill(pids_[i], SIGKILL);
    int status = 0;
    ::waitpid(pids_[i], &status, 0);
    pids_[i] = -1;
  }
}

void LocalRedis::start(std::size_t i) {
  if (!owned_) {
    throw std::logic_error("redistest: the servers are not ours to start");
  }
  if (pids_.at(i) > 0) {
    throw std::logic_error(fmt::format("redistest: server {} is already running", i));
  }
  spawn(i);
}

void LocalRedis::spawn(std::size_t i) {
  const fs::path sub = dir_ / std::to_string(i);
  fs::create_directories(sub);
  const fs::path log = sub / "redis.log";
  // Everything the child needs, prepared before fork (the child may only
  // make async-signal-safe calls: the test process has threads).
  std::vector<std::string> argv{"redis-server",
                                "--port",
                                std::to_string(ports_.at(i)),
                                "--bind",
                                "127.0.0.1",
                                "--save",
                                "",
                                "--appendonly",
                                "no",
                                "--daemonize",
                                "no",
                                "--dir",
                                sub.string(),
                                "--logfile",
                                log.string()};
  if (options_.enable_debug_command) {
    argv.emplace_back("--enable-debug-command");
    argv.emplace_back("local");
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (auto& a : argv) {
    args.push_back(a.data());
  }
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    throw std::runtime_error(fmt::format("redistest: fork for server {} failed", i));
  }
  if (pid == 0) {
    // Dies with the test process (even a killed one), keeps none of its pipes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);
    }
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, STDIN_FILENO);
      ::dup2(null, STDOUT_FILENO);
      ::dup2(null, STDERR_FILENO);
      if (null > STDERR_FILENO) {
        ::close(null);
      }
    }
    ::execv(kRedisServer, args.data());
    ::_exit(127);
  }
  pids_[i] = pid;
  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (!accepts(ports_[i])) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      pids_[i] = -1;
      throw std::runtime_error(
          fmt::format("redistest: redis-server on port {} exited (status {}):\n{}", ports_[i],
                      status, tail(log)));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error(fmt::format(
          "redistest: redis-server did not accept connections on port {} within {} ms:\n{}",
          ports_[i], options_.start_timeout.count(), tail(log)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace surge::redis::test_support
