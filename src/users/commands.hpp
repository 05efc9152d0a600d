#pragma once

// The users module's command-line tools, run by app/cli.cpp:
//
//   surge token --users A-B [--ttl SECONDS]   print_tokens()
//   surge seed --users N                      seed()
//
// Both are blocking (seed uses blocking libpq): CLI only, never on an I/O
// thread. Neither prints a secret, a password or a hash; token prints the
// tokens it was asked for on stdout and nothing else.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "users/password.hpp"
#include "users/token.hpp"

namespace surge::users {

// ---------------------------------------------------------------------------
// surge token
// ---------------------------------------------------------------------------

struct UserRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  friend bool operator==(const UserRange&, const UserRange&) = default;
};

// "A-B" (A <= B) or "A"; canonical decimals 1..INT64_MAX. nullopt otherwise.
std::optional<UserRange> parse_user_range(std::string_view text);

// One "<user_id> <token>\n" line per user of `range`, each token expiring at
// `expires_unix`. Throws std::logic_error when the signer has no secret and
// std::runtime_error when writing fails.
void print_tokens(const TokenSigner& signer, UserRange range, std::int64_t expires_unix,
                  std::FILE* out);

// ---------------------------------------------------------------------------
// surge seed
// ---------------------------------------------------------------------------
//
// Inserts users 1..N — user K named "userK", id K, password "surge-demo" —
// and `products` demo products (ids 1..P, "Demo product K"), idempotently:
//
//   1. moves users_id_seq to max(N, max(id), its current value) FIRST, so
//      registrations from then on draw ids above N;
//   2. refuses (SeedConflict, naming the id) when an id in 1..N belongs to
//      another name, or a name "userK" (K <= N) belongs to another id;
//   3. INSERT … SELECT FROM generate_series … ON CONFLICT DO NOTHING in
//      batches of `batch` rows, one transaction each, a progress line per
//      batch on `progress` — the rows are made by the server, so 100 000
//      users cost no client-side data at all;
//   4. checks that every id 1..N now holds userK (a registration that raced
//      step 2 is reported like a conflict);
//   5. products the same way (ON CONFLICT (id) DO NOTHING), then moves
//      products_id_seq past them.
//
// The password is hashed ONCE (argon2id, ~0.1 s) and the same hash string is
// stored for every seeded user: one hash per user would take 100 000 × 0.1–0.2 s
// ≈ 3–5.5 hours. Each hash string carries its own salt, so the seeded
// accounts share one salt — acceptable for demo accounts with a published
// password, and only for them.
//
// Rows that already exist are left as they are (their hash included).

struct SeedOptions {
  std::string database_uri;  // libpq URI of the primary
  std::uint64_t users = 0;
  std::uint64_t products = 20;
  std::uint64_t batch = 5000;
  std::string password = "surge-demo";
  PasswordSettings hashing;  // opslimit / memlimit of the shared hash
};

struct SeedReport {
  std::uint64_t users_inserted = 0;
  std::uint64_t products_inserted = 0;
  std::int64_t next_user_id = 0;  // what the next registration draws at least
  std::chrono::milliseconds hash_time{0};
  std::chrono::milliseconds total_time{0};
};

// An id or name of the seeded range is held by another account.
class SeedConflict : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws SeedConflict, pg::Error (connection, SQL), std::invalid_argument
// (N above INT64_MAX, batch 0) or std::runtime_error (schema not migrated).
SeedReport seed(const SeedOptions& options, std::FILE* progress);

}  // namespace surge::users
