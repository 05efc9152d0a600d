#include "pg/test_support/local_servers.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <grp.h>
#include <memory>
#include <netinet/in.h>
#include <pwd.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <libpq-fe.h>

namespace surge::pg::test_support {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPgUser = "surge-pg";

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::string(fallback);
}

// A port nobody listens on right now (a later bind may still race; the
// server then fails to start and the error says so).
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    throw std::runtime_error("pgtest: socket() failed");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("pgtest: cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string tail(const fs::path& file, std::size_t max_bytes = 3000) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

void append(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::app);
  out << text;
  if (!out) {
    throw std::runtime_error(fmt::format("pgtest: cannot write {}", file.string()));
  }
}

std::string uri_for(std::uint16_t port, const std::string& db = "postgres") {
  return fmt::format("postgresql://postgres@127.0.0.1:{}/{}?sslmode=disable", port, db);
}

}  // namespace

LocalServers::LocalServers(Options options) {
  if (const char* p = std::getenv("SURGE_TEST_PG_PRIMARY"); p != nullptr && *p != '\0') {
    primary_uri_ = p;
    replica_uri_ = env_or("SURGE_TEST_PG_REPLICA", "");
    return;
  }
  owned_ = true;
  bindir_ = env_or("SURGE_PG_BINDIR", "/usr/lib/postgresql/15/bin");
  if (!fs::exists(bindir_ / "initdb")) {
    throw std::runtime_error(fmt::format(
        "pgtest: no PostgreSQL server binaries in {} (install postgresql-15 or set "
        "SURGE_PG_BINDIR), or point SURGE_TEST_PG_PRIMARY / SURGE_TEST_PG_REPLICA at servers",
        bindir_.string()));
  }
  if (::geteuid() == 0) {
    as_pg_user_ = true;
    if (::getpwnam(kPgUser) == nullptr) {
      const int rc = std::system(
          "useradd --system --no-create-home --shell /usr/sbin/nologin surge-pg >/dev/null 2>&1");
      if (rc != 0 || ::getpwnam(kPgUser) == nullptr) {
        throw std::runtime_error("pgtest: running as root and cannot create the user surge-pg");
      }
    }
    const passwd* pw = ::getpwnam(kPgUser);
    pg_uid_ = pw->pw_uid;
    pg_gid_ = pw->pw_gid;
  }
  std::string templ = (fs::temp_directory_path() / "surge-pgtest-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) {
    throw std::runtime_error("pgtest: mkdtemp failed");
  }
  dir_ = templ;
  if (as_pg_user_ && ::chown(dir_.c_str(), pg_uid_, pg_gid_) != 0) {
    throw std::runtime_error("pgtest: chown of the temp dir failed");
  }
  try {
    primary_port_ = free_port();
    const fs::path primary = dir_ / "primary";
    run({(bindir_ / "initdb").string(), "-D", primary.string(), "-U", "postgres", "-A", "trust",
         "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"},
        "initdb");
    append(primary / "postgresql.conf",
           fmt::format("\n# surge pgtest\n"
                       "listen_addresses = '127.0.0.1'\n"
                       "port = {}\n"
                       "unix_socket_directories = '{}'\n"
                       "wal_level = replica\n"
                       "max_wal_senders = 8\n"
                       "wal_keep_size = 256MB\n"
                       "hot_standby = on\n"
                       "max_connections = 100\n"
                       "shared_buffers = 32MB\n"
                       "fsync = off\n"
                       "full_page_writes = off\n"
                       "log_min_messages = warning\n"
                       // A standby retries a lost primary after this; a
                       // promotion waits for the retry (default 5 s).
                       "wal_retrieve_retry_interval = 100ms\n",
                       primary_port_, dir_.string()));
    pg_ctl(primary, "start");
    primary_running_ = true;
    primary_uri_ = uri_for(primary_port_);
    if (options.replica) {
      replica_port_ = free_port();
      const fs::path replica = dir_ / "replica";
      run({(bindir_ / "pg_basebackup").string(), "-h", "127.0.0.1", "-p",
           std::to_string(primary_port_), "-U", "postgres", "-D", replica.string(), "-R", "-X",
           "stream", "-c", "fast", "--no-sync"},
          "pg_basebackup");
      append(replica / "postgresql.conf", fmt::format("port = {}\n", replica_port_));
      pg_ctl(replica, "start");
      replica_running_ = true;
      replica_uri_ = uri_for(replica_port_);
    }
  } catch (...) {
    teardown();  // stop what started, remove the dir
    throw;
  }
}

LocalServers::~LocalServers() {
  teardown();
}

void LocalServers::teardown() noexcept {
  if (!owned_) {
    return;
  }
  try {
    if (replica_running_) {
      replica_running_ = false;
      pg_ctl(dir_ / "replica", "stop", {"-m", "immediate"});
    }
  } catch (...) {  // NOLINT(bugprone-empty-catch): best effort teardown
  }
  try {
    if (primary_running_) {
      primary_running_ = false;
      pg_ctl(dir_ / "primary", "stop", {"-m", "immediate"});
    }
  } catch (...) {  // NOLINT(bugprone-empty-catch): best effort teardown
  }
  if (!dir_.empty() && std::getenv("SURGE_PGTEST_KEEP") == nullptr) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    dir_.clear();
  }
}

std::string LocalServers::with_database(const std::string& uri, const std::string& db) {
  // postgresql://user@host:port/DB?params
  const auto scheme = uri.find("://");
  const auto slash = uri.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) {
    return uri + "/" + db;
  }
  const auto query = uri.find('?', slash);
  return uri.substr(0, slash + 1) + db + (query == std::string::npos ? "" : uri.substr(query));
}

void LocalServers::run(const std::vector<std::string>& argv, const std::string& step) const {
  const fs::path log = dir_ / fmt::format("{}.log", step);
  // Everything the child needs, prepared before fork (the child may only
  // make async-signal-safe calls: the test process has threads).
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(
        a.c_str()));  // NOLINT(cppcoreguidelines-pro-type-const-cast): execv's signature
  }
  args.push_back(nullptr);
  const std::string log_path = log.string();
  const std::string dir = dir_.string();
  const pid_t pid = ::fork();
  if (pid < 0) {
    throw std::runtime_error("pgtest: fork failed");
  }
  if (pid == 0) {
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
    }
    if (as_pg_user_) {
      if (fd >= 0) {
        (void)::fchown(fd, pg_uid_, pg_gid_);
      }
      if (::setgroups(0, nullptr) != 0 || ::setgid(pg_gid_) != 0 || ::setuid(pg_uid_) != 0) {
        ::_exit(126);
      }
    }
    if (::chdir(dir.c_str()) != 0) {
      ::_exit(125);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(
        fmt::format("pgtest: {} failed (status {}):\n{}", step, status, tail(log)));
  }
}

void LocalServers::pg_ctl(const fs::path& data, const std::string& action,
                          const std::vector<std::string>& extra) const {
  std::vector<std::string> argv{
      (bindir_ / "pg_ctl").string(), "-D", data.string(), "-w", "-t", "60"};
  if (action == "start") {
    argv.push_back("-l");
    argv.push_back((dir_ / (data.filename().string() + "-server.log")).string());
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(action);
  run(argv, fmt::format("pg_ctl-{}-{}", data.filename().string(), action));
}

void LocalServers::stop_replica() {
  if (!owned_ || replica_uri_.empty()) {
    throw std::logic_error("pgtest: the replica is not ours to stop");
  }
  pg_ctl(dir_ / "replica", "stop", {"-m", "immediate"});
  replica_running_ = false;
}

void LocalServers::start_replica() {
  if (!owned_ || replica_uri_.empty()) {
    throw std::logic_error("pgtest: the replica is not ours to start");
  }
  pg_ctl(dir_ / "replica", "start");
  replica_running_ = true;
}

void LocalServers::stop_primary() {
  if (!owned_) {
    throw std::logic_error("pgtest: the primary is not ours to stop");
  }
  pg_ctl(dir_ / "primary", "stop", {"-m", "immediate"});
  primary_running_ = false;
}

void LocalServers::promote_replica() {
  if (!owned_ || replica_uri_.empty()) {
    throw std::logic_error("pgtest: the replica is not ours to promote");
  }
  pg_ctl(dir_ / "replica", "promote");  // -w: waits until promoted
}

std::string LocalServers::query(const std::string& uri, const std::string& sql) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(uri.c_str()), &PQfinish);
  if (!c || PQstatus(c.get()) != CONNECTION_OK) {
    throw std::runtime_error(fmt::format("pgtest: cannot connect to {}: {}", uri,
                                         c ? PQerrorMessage(c.get()) : "out of memory"));
  }
  PQsetNoticeProcessor(
      c.get(), [](void*, const char*) noexcept {}, nullptr);  // "does not exist, skipping"
  std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(c.get(), sql.c_str()), &PQclear);
  const auto st = PQresultStatus(r.get());
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    throw std::runtime_error(
        fmt::format("pgtest: {} failed: {}", sql, PQresultErrorMessage(r.get())));
  }
  if (st == PGRES_TUPLES_OK && PQntuples(r.get()) > 0 && PQnfields(r.get()) > 0) {
    return PQgetvalue(r.get(), 0, 0);
  }
  return {};
}

std::string LocalServers::create_database(const std::string& name) const {
  query(primary_uri_, fmt::format("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", name));
  query(primary_uri_, fmt::format("CREATE DATABASE \"{}\"", name));
  return with_database(primary_uri_, name);
}

}  // namespace surge::pg::test_support
