#pragma once

// Throwaway PostgreSQL servers for live tests (*_pgtest.cpp): a primary and,
// optionally, a streaming replica made with pg_basebackup -R, on free
// loopback ports under a fresh temporary directory, torn down (immediate
// stop, directory removed) by the destructor.
//
// Or, when SURGE_TEST_PG_PRIMARY is set, the servers it (and
// SURGE_TEST_PG_REPLICA) name: nothing is started or stopped, and owned()
// is false — tests that stop, pause or promote servers skip then.
//
// PostgreSQL refuses to run as root: as root, every server command runs as
// the system user `surge-pg` (created with useradd when missing). Binaries
// come from SURGE_PG_BINDIR, default /usr/lib/postgresql/15/bin.
//
// Settings are for speed, not durability (fsync = off): test data only.
//
// Blocking (fork/exec + waitpid, blocking libpq): test code only, never on
// an I/O thread. Thread safety: none; one test thread drives it.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace surge::pg::test_support {

class LocalServers {
 public:
  struct Options {
    bool replica = true;
  };

  // Throws std::runtime_error naming the failing step and the tail of its
  // log when a server cannot be set up.
  explicit LocalServers(Options options);
  LocalServers() : LocalServers(Options{}) {}
  ~LocalServers();
  LocalServers(const LocalServers&) = delete;
  LocalServers& operator=(const LocalServers&) = delete;

  // libpq URIs of database `postgres` as superuser `postgres`.
  const std::string& primary_uri() const { return primary_uri_; }
  const std::string& replica_uri() const { return replica_uri_; }  // "" without replica
  // The same server, another database.
  static std::string with_database(const std::string& uri, const std::string& db);
  bool owned() const { return owned_; }
  std::uint16_t primary_port() const { return primary_port_; }
  std::uint16_t replica_port() const { return replica_port_; }

  // Owned servers only (throws std::logic_error otherwise).
  void stop_replica();   // immediate (like a crash)
  void start_replica();  // waits until it accepts connections
  void stop_primary();
  void promote_replica();  // waits until it is out of recovery

  // Blocking helpers: the first column of the first row as text ("" for no
  // row / NULL). Throws std::runtime_error on any error.
  static std::string query(const std::string& uri, const std::string& sql);
  // CREATE DATABASE `name` on the primary (dropped first if it exists);
  // returns its URI.
  std::string create_database(const std::string& name) const;

 private:
  void teardown() noexcept;
  void run(const std::vector<std::string>& argv, const std::string& step) const;
  void pg_ctl(const std::filesystem::path& data, const std::string& action,
              const std::vector<std::string>& extra = {}) const;

  bool owned_ = false;
  bool as_pg_user_ = false;
  unsigned pg_uid_ = 0;
  unsigned pg_gid_ = 0;
  std::filesystem::path bindir_;
  std::filesystem::path dir_;
  std::uint16_t primary_port_ = 0;
  std::uint16_t replica_port_ = 0;
  std::string primary_uri_;
  std::string replica_uri_;
  bool replica_running_ = false;
  bool primary_running_ = false;
};

}  // namespace surge::pg::test_support
