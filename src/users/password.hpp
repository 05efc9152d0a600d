#pragma once

// Password hashing: argon2id through libsodium (crypto_pwhash_str), run on a
// small thread pool of its own so that no I/O thread ever spends the 0.1–0.2 s
// a hash costs here.
//
//   I/O thread (coroutine)               hashing pool (settings.threads)
//   ──────────────────────               ───────────────────────────────
//   co_await hasher.hash(pw) ──co_spawn──► crypto_pwhash_str(...)
//          (suspended)                     │ result / exception
//   resumes on its own executor ◄─dispatch─┘
//
// The awaiting coroutine resumes on the executor it awaited from (co_spawn
// with use_awaitable completes through the awaiter's associated executor),
// so database and Redis calls after the co_await run on the I/O thread
// again, as those clients require.
//
// Cost (measured on the project's 2-core VM, see src/users/README.md):
// INTERACTIVE (t=2, 64 MiB) 70–110 ms per hash or verify on a quiet core,
// ~180 ms while the other core builds; MODERATE (t=3, 256 MiB) 0.53–0.63 s
// quiet, ~4 s loaded, and 256 MiB per job — far too slow for a login route,
// so the defaults are INTERACTIVE. The parameters are stored in each hash string, so verifying
// an old hash works after the settings change.
//
// Overload: at most settings.max_pending jobs may be queued or running;
// beyond that hash()/verify() throw Overloaded at once (the route answers
// 503 with Retry-After) instead of queueing logins for minutes.
//
// Secrets: the pool zeroes (sodium_memzero) the password copies it owns once
// done; nothing here logs a password or a hash.
//
// Thread safety: every member may be called from any thread. Lifecycle:
// stop() (or the destructor) refuses new jobs and waits for the queued ones
// to finish; their completions are delivered to the awaiting executors,
// which MUST still exist then (stop the hasher after the HTTP server has
// drained and before the io_contexts are destroyed).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "metrics/registry.hpp"

namespace surge::users {

struct PasswordSettings {
  std::size_t threads = 2;                       // hashing pool size, >= 1
  std::size_t max_pending = 32;                  // queued + running jobs, >= 1
  std::uint64_t opslimit = 2;                    // crypto_pwhash_OPSLIMIT_INTERACTIVE
  std::size_t memlimit = std::size_t{64} << 20;  // crypto_pwhash_MEMLIMIT_INTERACTIVE
};

// Too many hashing jobs queued: try again shortly (→ 503 unavailable).
class Overloaded : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Blocking argon2id, for the CLI (`surge seed`) and the pool's jobs.
// hash_password throws std::invalid_argument for limits libsodium refuses
// and std::runtime_error when it fails (out of memory).
std::string hash_password(std::string_view password, std::uint64_t opslimit, std::size_t memlimit);
// False for a wrong password and for a malformed hash.
bool verify_password(std::string_view hash, std::string_view password);

class PasswordHasher {
 public:
  // Throws std::invalid_argument for settings libsodium refuses (checked
  // here, not at the first request) and std::runtime_error when libsodium
  // cannot initialise.
  PasswordHasher(PasswordSettings settings, metrics::Registry& registry);
  ~PasswordHasher();
  PasswordHasher(const PasswordHasher&) = delete;
  PasswordHasher& operator=(const PasswordHasher&) = delete;
  PasswordHasher(PasswordHasher&&) = delete;
  PasswordHasher& operator=(PasswordHasher&&) = delete;

  // The "$argon2id$v=19$m=…,t=…,p=1$salt$hash" string of `password`.
  // Throws Overloaded, or what hash_password throws.
  boost::asio::awaitable<std::string> hash(std::string password);
  // Whether `password` matches `hash`. Throws Overloaded.
  boost::asio::awaitable<bool> verify(std::string hash, std::string password);
  // Costs what verify() of an existing account costs, and always fails:
  // login of an unknown name runs it so that both answer in the same time.
  // The dummy hash is made once, lazily, on the pool. Throws Overloaded.
  boost::asio::awaitable<void> verify_dummy(std::string password);

  // Refuses new jobs (Overloaded) and waits for the queued and running ones.
  // Idempotent; any thread but a pool thread.
  void stop();

  const PasswordSettings& settings() const noexcept { return settings_; }
  std::size_t pending() const noexcept { return pending_.load(std::memory_order_relaxed); }

 private:
  // A slot among max_pending, released when the job ends (RAII, moved into
  // the job so that an abandoned job releases it too).
  class Slot;
  Slot reserve();
  const std::string& dummy_hash();  // pool threads only

  static boost::asio::awaitable<std::string> hash_job(PasswordHasher* self, Slot slot,
                                                      std::string password);
  static boost::asio::awaitable<bool> verify_job(PasswordHasher* self, Slot slot, std::string hash,
                                                 std::string password);
  static boost::asio::awaitable<void> dummy_job(PasswordHasher* self, Slot slot,
                                                std::string password);

  PasswordSettings settings_;
  metrics::Histogram hash_seconds_;
  metrics::Histogram verify_seconds_;
  metrics::Counter rejected_;
  metrics::Gauge jobs_;  // shared by every hasher of the registry (tests make several)
  std::atomic<std::size_t> pending_{0};
  std::atomic<bool> stopped_{false};
  std::once_flag dummy_once_;
  std::string dummy_hash_;
  boost::asio::thread_pool pool_;  // last: its threads stop before the rest goes
};

}  // namespace surge::users
