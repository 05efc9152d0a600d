#pragma once

// Read-your-writes markers: for a short window after a user's write, that
// user's reads must see it. note() records the write's commit LSN; min_lsn()
// gives the LSN a replica must have replayed to serve the user (0 = any).
//
// Local to one server: other servers learn of a user's write through the
// cache layer (invalidation), which is why the window is short.
//
// Time is passed in (no clock inside) so the expiry is testable without
// sleeping. Memory: one entry per user written in the last window; expired
// entries are purged as writes arrive (each shard at most once a window).
//
// Thread safety: every member may be called from any thread (sharded
// mutexes; a shard is locked for one hash-map operation).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "pg/lsn.hpp"

namespace surge::pg {

class WriteMarkers {
 public:
  using Clock = std::chrono::steady_clock;

  explicit WriteMarkers(std::chrono::milliseconds window) : window_(window) {}

  // `lsn` 0 (unknown) is stored as kPrimaryLsn: the user's reads go to the
  // primary for the window. A later note keeps the larger LSN and extends
  // the window.
  void note(std::uint64_t user_id, Lsn lsn, Clock::time_point now);

  // The LSN the user's reads need, 0 when no marker is live.
  Lsn min_lsn(std::uint64_t user_id, Clock::time_point now) const;

  // Live and expired-but-unpurged entries (for tests and metrics).
  std::size_t size() const;

 private:
  struct Entry {
    Lsn lsn = 0;
    Clock::time_point expires{};
  };
  struct alignas(64) Shard {
    mutable std::mutex mu;
    std::unordered_map<std::uint64_t, Entry> entries;
    Clock::time_point next_purge{};
  };
  static constexpr std::size_t kShards = 32;
  Shard& shard(std::uint64_t user_id) const {
    return shards_[(user_id * 0x9E3779B97F4A7C15ULL) >> 59];
  }

  std::chrono::milliseconds window_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace surge::pg
