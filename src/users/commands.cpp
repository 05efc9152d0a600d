#include "users/commands.hpp"

#include <charconv>
#include <limits>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <libpq-fe.h>

#include "pg/error.hpp"
#include "pg/migrate.hpp"

namespace surge::users {

// ===========================================================================
// surge token
// ===========================================================================

namespace {

std::optional<std::uint64_t> parse_id(std::string_view text) {
  if (text.empty() || text.size() > 19 || text.front() == '0') {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() ||
      v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

std::optional<UserRange> parse_user_range(std::string_view text) {
  const std::size_t dash = text.find('-');
  const auto first = parse_id(text.substr(0, dash));
  const auto last = dash == std::string_view::npos ? first : parse_id(text.substr(dash + 1));
  if (!first || !last || *last < *first) {
    return std::nullopt;
  }
  return UserRange{*first, *last};
}

void print_tokens(const TokenSigner& signer, UserRange range, std::int64_t expires_unix,
                  std::FILE* out) {
  std::string buffer;
  constexpr std::size_t kChunk = std::size_t{64} * 1024;
  buffer.reserve(kChunk + 256);
  const auto flush = [&buffer, out] {
    if (!buffer.empty() && std::fwrite(buffer.data(), 1, buffer.size(), out) != buffer.size()) {
      throw std::runtime_error("token: cannot write the output");
    }
    buffer.clear();
  };
  for (std::uint64_t id = range.first;; ++id) {
    buffer += std::to_string(id);
    buffer += ' ';
    buffer += signer.sign(id, expires_unix);
    buffer += '\n';
    if (buffer.size() >= kChunk) {
      flush();
    }
    if (id == range.last) {
      break;
    }
  }
  flush();
  if (std::fflush(out) != 0) {
    throw std::runtime_error("token: cannot write the output");
  }
}

// ===========================================================================
// surge seed: blocking libpq
// ===========================================================================

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

ConnPtr connect(const std::string& uri) {
  ConnPtr c(PQconnectdb(uri.c_str()));
  if (!c) {
    throw std::bad_alloc();
  }
  if (PQstatus(c.get()) != CONNECTION_OK) {
    throw pg::Error(
        std::string(),
        fmt::format("seed: cannot connect to the database: {}", trim(PQerrorMessage(c.get()))),
        /*connection_lost=*/true);
  }
  PQsetNoticeProcessor(c.get(), &quiet_notices, nullptr);
  return c;
}

// Runs one statement with text parameters; throws pg::Error (typed by
// SQLSTATE, prefixed with `context`) unless it succeeds.
ResultPtr exec(PGconn* c, const char* sql, std::string_view context,
               const std::vector<std::string>& params = {}) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) {
    values.push_back(p.c_str());
  }
  ResultPtr r(PQexecParams(c, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                           nullptr, 0));
  const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    return r;
  }
  const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
  const char* constraint = r ? PQresultErrorField(r.get(), PG_DIAG_CONSTRAINT_NAME) : nullptr;
  const std::string_view msg = r ? trim(PQresultErrorMessage(r.get())) : trim(PQerrorMessage(c));
  throw pg::Error(state != nullptr ? state : "", fmt::format("seed: {}: {}", context, msg),
                  PQstatus(c) == CONNECTION_BAD, constraint != nullptr ? constraint : "");
}

std::uint64_t affected(PGresult* r) {
  const char* n = PQcmdTuples(r);
  return (n == nullptr || *n == '\0') ? 0 : std::stoull(n);
}

// Serialises seeders of one database (session-level advisory lock).
constexpr std::int64_t kSeedLock = 0x7365656475;  // "seedu"

// The first account that holds an id or a name of the seeded range 1..N.
constexpr const char* kConflictSql =
    "WITH u AS ("
    "  SELECT id, name,"
    "         CASE WHEN name ~ '^user[1-9][0-9]{0,18}$'"
    "              THEN substring(name FROM 5)::numeric END AS k"
    "  FROM users)"
    " SELECT id, name FROM u"
    " WHERE (id BETWEEN 1 AND $1::bigint AND name <> 'user' || id)"
    "    OR (k IS NOT NULL AND k <= $1::bigint AND k <> id)"
    " ORDER BY id LIMIT 1";

void check_conflicts(PGconn* c, const std::string& n) {
  ResultPtr r = exec(c, kConflictSql, "checking the seeded range", {n});
  if (PQntuples(r.get()) == 0) {
    return;
  }
  const std::string id = PQgetvalue(r.get(), 0, 0);
  const std::string name = PQgetvalue(r.get(), 0, 1);
  const std::uint64_t held = std::stoull(id);
  if (held >= 1 && held <= std::stoull(n) && name != "user" + id) {
    throw SeedConflict(fmt::format(
        "user id {} is held by a registered account named '{}' (not 'user{}'); seeding users "
        "1..{} would need that id — seed fewer users or use another database",
        id, name, id, n));
  }
  throw SeedConflict(fmt::format(
      "the name '{}' is held by user id {}, but seeding gives it to user id {}; seed fewer "
      "users or use another database",
      name, id, name.substr(4)));
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

SeedReport seed(const SeedOptions& options, std::FILE* progress) {
  const auto start = std::chrono::steady_clock::now();
  if (options.users > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
      options.products > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw std::invalid_argument("seed: too many users or products");
  }
  if (options.batch == 0) {
    throw std::invalid_argument("seed: batch must be >= 1");
  }
  if (const auto pending = pg::check_schema(options.database_uri)) {
    throw std::runtime_error(*pending);
  }
  SeedReport report;
  const ConnPtr conn = connect(options.database_uri);
  PGconn* c = conn.get();
  exec(c, "SELECT pg_advisory_lock($1::bigint)", "waiting for other seeders",
       {std::to_string(kSeedLock)});

  const std::string n = std::to_string(options.users);
  if (options.users > 0) {
    // 1. The sequence first: registrations from now on draw above N.
    ResultPtr r = exec(c,
                       "SELECT setval('users_id_seq', GREATEST($1::bigint,"
                       " (SELECT COALESCE(max(id), 0) FROM users),"
                       " (SELECT last_value FROM users_id_seq)))",
                       "moving users_id_seq past the seeded range", {n});
    report.next_user_id = std::stoll(PQgetvalue(r.get(), 0, 0)) + 1;

    // 2. Refuse to run over someone else's account.
    check_conflicts(c, n);

    // 3. The password is hashed once; see the header.
    const auto hash_start = std::chrono::steady_clock::now();
    const std::string hash =
        hash_password(options.password, options.hashing.opslimit, options.hashing.memlimit);
    report.hash_time = std::chrono::milliseconds(static_cast<std::int64_t>(ms_since(hash_start)));

    for (std::uint64_t first = 1; first <= options.users; first += options.batch) {
      const std::uint64_t last = std::min(options.users, first + options.batch - 1);
      ResultPtr ins = exec(c,
                           "INSERT INTO users (id, name, password_hash)"
                           " SELECT g, 'user' || g, $3 FROM generate_series($1::bigint,"
                           " $2::bigint) AS g ON CONFLICT DO NOTHING",
                           "inserting users", {std::to_string(first), std::to_string(last), hash});
      report.users_inserted += affected(ins.get());
      if (progress != nullptr) {
        fmt::print(progress, "seed: users {}/{} ({} new) {:.0f} ms\n", last, options.users,
                   report.users_inserted, ms_since(start));
        (void)std::fflush(progress);  // progress is best effort
      }
      if (last == options.users) {
        break;  // no overflow of first + batch near the top of the range
      }
    }

    // 4. Every id 1..N holds userK now, or something raced step 2.
    ResultPtr count = exec(c,
                           "SELECT count(*) FROM users"
                           " WHERE id BETWEEN 1 AND $1::bigint AND name = 'user' || id",
                           "checking the seeded users", {n});
    if (std::stoull(PQgetvalue(count.get(), 0, 0)) != options.users) {
      check_conflicts(c, n);
      throw SeedConflict(fmt::format("seed: only {} of users 1..{} are in place",
                                     PQgetvalue(count.get(), 0, 0), n));
    }
  }

  // 5. Products.
  if (options.products > 0) {
    ResultPtr ins = exec(c,
                         "INSERT INTO products (id, name, price_cents, stock)"
                         " SELECT g, 'Demo product ' || g, 100 * g + 99, 100000"
                         " FROM generate_series(1, $1::bigint) AS g"
                         " ON CONFLICT (id) DO NOTHING",
                         "inserting products", {std::to_string(options.products)});
    report.products_inserted = affected(ins.get());
    exec(c,
         "SELECT setval('products_id_seq', GREATEST("
         " (SELECT COALESCE(max(id), 1) FROM products),"
         " (SELECT last_value FROM products_id_seq)))",
         "moving products_id_seq past the seeded products");
    if (progress != nullptr) {
      fmt::print(progress, "seed: products {}/{} ({} new)\n", options.products, options.products,
                 report.products_inserted);
    }
  }

  exec(c, "SELECT pg_advisory_unlock($1::bigint)", "releasing the seed lock",
       {std::to_string(kSeedLock)});
  report.total_time = std::chrono::milliseconds(static_cast<std::int64_t>(ms_since(start)));
  return report;
}

}  // namespace surge::users
