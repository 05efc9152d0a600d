#include "pg/migrate.hpp"

#include <array>
#include <chrono>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <openssl/evp.h>

#include "log/log.hpp"
#include "pg/error.hpp"

namespace surge::pg {

namespace {

struct ConnDeleter {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnDeleter>;
struct ResultDeleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

void quiet_notices(void* /*arg*/, const char* /*message*/) noexcept {}

std::string_view trim(const char* s) {
  std::string_view v = s != nullptr ? s : "";
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) {
    v.remove_suffix(1);
  }
  return v;
}

std::string describe(PGconn* c) {
  return fmt::format("{}:{}/{}", PQhost(c), PQport(c), PQdb(c));
}

ConnPtr connect(const std::string& uri) {
  ConnPtr c(PQconnectdb(uri.c_str()));
  if (!c) {
    throw std::bad_alloc();
  }
  if (PQstatus(c.get()) != CONNECTION_OK) {
    throw Error(
        std::string(),
        fmt::format("pg: cannot connect to the database: {}", trim(PQerrorMessage(c.get()))),
        /*connection_lost=*/true);
  }
  PQsetNoticeProcessor(c.get(), &quiet_notices, nullptr);
  return c;
}

// Runs `sql` (several statements allowed when there are no parameters);
// throws pg::Error, prefixed with `context`, unless it succeeds.
ResultPtr exec(PGconn* c, const std::string& sql, std::string_view context,
               const std::vector<std::string>& params = {}) {
  ResultPtr r;
  if (params.empty()) {
    r.reset(PQexec(c, sql.c_str()));
  } else {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) {
      values.push_back(p.c_str());
    }
    r.reset(PQexecParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                         nullptr, nullptr, 0));
  }
  const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
    return r;
  }
  const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
  const char* constraint = r ? PQresultErrorField(r.get(), PG_DIAG_CONSTRAINT_NAME) : nullptr;
  const std::string_view msg = r ? trim(PQresultErrorMessage(r.get())) : trim(PQerrorMessage(c));
  throw Error(state != nullptr ? state : "", fmt::format("{}: {}", context, msg),
              PQstatus(c) == CONNECTION_BAD, constraint != nullptr ? constraint : "");
}

std::string label(const Migration& m) {
  return fmt::format("{:04}_{}", m.version, m.name);
}

void require_ordered(std::span<const Migration> migrations) {
  for (std::size_t i = 1; i < migrations.size(); ++i) {
    if (migrations[i].version <= migrations[i - 1].version) {
      throw MigrationError(fmt::format("migrations out of order: {} after {}", label(migrations[i]),
                                       label(migrations[i - 1])));
    }
  }
}

const std::string kLockSql = fmt::format("SELECT pg_advisory_xact_lock({})", kMigrationLock);
const std::string kCreateTableSql =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

// version → checksum of every recorded migration.
std::map<int, std::string> recorded(PGconn* c) {
  std::map<int, std::string> out;
  ResultPtr r =
      exec(c, "SELECT version, checksum FROM schema_migrations", "reading schema_migrations");
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    out.emplace(std::stoi(PQgetvalue(r.get(), i, 0)), PQgetvalue(r.get(), i, 1));
  }
  return out;
}

}  // namespace

std::string checksum(std::string_view sql) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(sql.data(), sql.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("pg: SHA-256 failed");
  }
  std::string hex;
  hex.reserve(std::size_t{len} * 2);
  for (unsigned int i = 0; i < len; ++i) {
    hex += fmt::format("{:02x}", md[i]);
  }
  return hex;
}

MigrateReport migrate(const std::string& uri, std::span<const Migration> migrations) {
  require_ordered(migrations);
  ConnPtr conn = connect(uri);
  PGconn* c = conn.get();
  const std::string where = describe(c);

  // The bookkeeping table, created under the lock (concurrent CREATE TABLE
  // IF NOT EXISTS can still collide on the catalog otherwise).
  exec(c, "BEGIN", "begin");
  exec(c, kLockSql, "taking the migration lock");
  exec(c, kCreateTableSql, "creating schema_migrations");
  exec(c, "COMMIT", "commit");

  MigrateReport report;
  for (const Migration& m : migrations) {
    const std::string name = label(m);
    const std::string sum = checksum(m.sql);
    exec(c, "BEGIN", name);
    try {
      exec(c, kLockSql, name + ": taking the migration lock");
      ResultPtr r = exec(c, "SELECT checksum FROM schema_migrations WHERE version = $1",
                         name + ": reading schema_migrations", {std::to_string(m.version)});
      if (PQntuples(r.get()) == 1) {
        const std::string_view have = PQgetvalue(r.get(), 0, 0);
        if (have != sum) {
          throw MigrationError(fmt::format(
              "database {}: migration {} was applied with different content (checksum {}, this "
              "binary has {}); never edit an applied migration, add a new one",
              where, name, have, sum));
        }
        exec(c, "COMMIT", name);  // already applied
        continue;
      }
      const auto start = std::chrono::steady_clock::now();
      exec(c, std::string(m.sql), "migration " + name);
      exec(c, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
           name + ": recording it", {std::to_string(m.version), std::string(m.name), sum});
      exec(c, "COMMIT", name + ": commit");
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
      log::info("migration applied", {{"migration", name}, {"database", where}, {"ms", ms}});
      report.applied.push_back(name);
    } catch (...) {
      ResultPtr rollback(PQexec(c, "ROLLBACK"));  // best effort; the error is what matters
      throw;
    }
  }
  const auto done = recorded(c);
  report.version = done.empty() ? 0 : done.rbegin()->first;
  if (!migrations.empty() && report.version > migrations.back().version) {
    log::warn("database has migrations this binary does not know",
              {{"database", where}, {"version", report.version}});
  }
  return report;
}

std::optional<std::string> check_schema(const std::string& uri,
                                        std::span<const Migration> migrations) {
  ConnPtr conn = connect(uri);
  PGconn* c = conn.get();
  const std::string where = describe(c);
  ResultPtr exists = exec(c, "SELECT to_regclass('schema_migrations') IS NOT NULL",
                          "looking for schema_migrations");
  if (std::string_view(PQgetvalue(exists.get(), 0, 0)) != "t") {
    return fmt::format(
        "database {} is not migrated (no schema_migrations table); run `surge migrate`", where);
  }
  const auto done = recorded(c);
  std::vector<std::string> pending;
  for (const Migration& m : migrations) {
    const auto it = done.find(m.version);
    if (it == done.end()) {
      pending.push_back(label(m));
    } else if (it->second != checksum(m.sql)) {
      return fmt::format(
          "database {}: migration {} was applied with different content than this binary has; "
          "the database and the binary disagree",
          where, label(m));
    }
  }
  if (pending.empty()) {
    return std::nullopt;
  }
  return fmt::format(
      "database {} is not migrated: {} migration{} pending ({}); run `surge migrate`", where,
      pending.size(), pending.size() == 1 ? "" : "s", fmt::join(pending, ", "));
}

}  // namespace surge::pg
