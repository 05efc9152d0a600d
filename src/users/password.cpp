#include "users/password.hpp"

#include <array>
#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <sodium.h>

namespace surge::users {

namespace asio = boost::asio;

namespace {

void init_sodium() {
  // Idempotent and thread-safe; < 0 only when the system RNG is unusable.
  if (sodium_init() < 0) {
    throw std::runtime_error("password: libsodium cannot initialise");
  }
}

void check_limits(std::uint64_t opslimit, std::size_t memlimit) {
  if (opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
      opslimit > crypto_pwhash_argon2id_OPSLIMIT_MAX ||
      memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
      memlimit > crypto_pwhash_argon2id_MEMLIMIT_MAX) {
    throw std::invalid_argument("password: argon2id opslimit/memlimit out of libsodium's range");
  }
}

// Zeroes a password copy we own before its memory goes back to the heap.
void wipe(std::string& secret) noexcept {
  if (!secret.empty()) {
    sodium_memzero(secret.data(), secret.size());
  }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::string hash_password(std::string_view password, std::uint64_t opslimit, std::size_t memlimit) {
  init_sodium();
  check_limits(opslimit, memlimit);
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str_alg(out.data(), password.data(), password.size(), opslimit, memlimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("password: argon2id failed (out of memory?)");
  }
  return {out.data()};
}

bool verify_password(std::string_view hash, std::string_view password) {
  init_sodium();
  // crypto_pwhash_str_verify reads a NUL-terminated string of fewer than
  // crypto_pwhash_STRBYTES bytes.
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) {
    return false;
  }
  std::array<char, crypto_pwhash_STRBYTES> str{};
  hash.copy(str.data(), hash.size());
  return crypto_pwhash_str_verify(str.data(), password.data(), password.size()) == 0;
}

// ===========================================================================
// PasswordHasher
// ===========================================================================

class PasswordHasher::Slot {
 public:
  // The caller has already counted the job in owner->pending_.
  explicit Slot(PasswordHasher* owner) noexcept : owner_(owner) { owner_->jobs_.add(1); }
  Slot(Slot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
  Slot& operator=(Slot&&) = delete;
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  ~Slot() {
    if (owner_ != nullptr) {
      owner_->jobs_.add(-1);
      owner_->pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

 private:
  PasswordHasher* owner_;
};

PasswordHasher::PasswordHasher(PasswordSettings settings, metrics::Registry& registry)
    : settings_(settings),
      hash_seconds_(registry.histogram("surge_users_password_seconds",
                                       "argon2id time per job on the hashing pool, by operation.",
                                       {{"op", "hash"}})),
      verify_seconds_(registry.histogram("surge_users_password_seconds",
                                         "argon2id time per job on the hashing pool, by operation.",
                                         {{"op", "verify"}})),
      rejected_(registry.counter("surge_users_password_rejected_total",
                                 "Hashing jobs refused because max_pending were queued (503).")),
      jobs_(registry.gauge("surge_users_password_jobs",
                           "Hashing jobs queued or running on the hashing pool.")),
      pool_(settings.threads == 0 ? 1 : settings.threads) {
  init_sodium();
  if (settings_.threads == 0 || settings_.max_pending == 0) {
    pool_.stop();
    pool_.join();
    throw std::invalid_argument("password: threads and max_pending must be >= 1");
  }
  try {
    check_limits(settings_.opslimit, settings_.memlimit);
  } catch (...) {
    pool_.stop();
    pool_.join();
    throw;
  }
}

PasswordHasher::~PasswordHasher() {
  stop();
}

void PasswordHasher::stop() {
  stopped_.store(true, std::memory_order_release);
  pool_.join();  // runs what is queued, then the threads exit
}

PasswordHasher::Slot PasswordHasher::reserve() {
  if (stopped_.load(std::memory_order_acquire)) {
    throw Overloaded("password hashing is shutting down");
  }
  const std::size_t before = pending_.fetch_add(1, std::memory_order_acq_rel);
  Slot slot(this);  // releases on every path from here
  if (before >= settings_.max_pending) {
    rejected_.add();
    throw Overloaded("too many password checks in progress");
  }
  return slot;
}

const std::string& PasswordHasher::dummy_hash() {
  std::call_once(dummy_once_, [this] {
    std::array<unsigned char, 32> random{};
    randombytes_buf(random.data(), random.size());
    std::string password(reinterpret_cast<const char*>(random.data()), random.size());
    dummy_hash_ = hash_password(password, settings_.opslimit, settings_.memlimit);
    wipe(password);
  });
  return dummy_hash_;
}

// The jobs are named coroutines taking everything by value (STYLE.md 15):
// they run to completion on a pool thread without suspending.
asio::awaitable<std::string> PasswordHasher::hash_job(PasswordHasher* self, Slot slot,
                                                      std::string password) {
  const auto start = std::chrono::steady_clock::now();
  std::string out;
  try {
    out = hash_password(password, self->settings_.opslimit, self->settings_.memlimit);
  } catch (...) {
    wipe(password);
    throw;
  }
  wipe(password);
  self->hash_seconds_.observe(seconds_since(start));
  (void)slot;
  co_return out;
}

asio::awaitable<bool> PasswordHasher::verify_job(PasswordHasher* self, Slot slot, std::string hash,
                                                 std::string password) {
  const auto start = std::chrono::steady_clock::now();
  const bool ok = verify_password(hash, password);
  wipe(password);
  self->verify_seconds_.observe(seconds_since(start));
  (void)slot;
  co_return ok;
}

asio::awaitable<void> PasswordHasher::dummy_job(PasswordHasher* self, Slot slot,
                                                std::string password) {
  const auto start = std::chrono::steady_clock::now();
  (void)verify_password(self->dummy_hash(), password);
  wipe(password);
  self->verify_seconds_.observe(seconds_since(start));
  (void)slot;
  co_return;
}

asio::awaitable<std::string> PasswordHasher::hash(std::string password) {
  Slot slot = reserve();
  co_return co_await asio::co_spawn(pool_.get_executor(),
                                    hash_job(this, std::move(slot), std::move(password)),
                                    asio::use_awaitable);
}

asio::awaitable<bool> PasswordHasher::verify(std::string hash, std::string password) {
  Slot slot = reserve();
  co_return co_await asio::co_spawn(
      pool_.get_executor(), verify_job(this, std::move(slot), std::move(hash), std::move(password)),
      asio::use_awaitable);
}

asio::awaitable<void> PasswordHasher::verify_dummy(std::string password) {
  Slot slot = reserve();
  co_await asio::co_spawn(pool_.get_executor(),
                          dummy_job(this, std::move(slot), std::move(password)),
                          asio::use_awaitable);
}

}  // namespace surge::users
