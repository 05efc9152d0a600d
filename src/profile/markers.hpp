#pragma once

// Cross-server read-your-writes markers and L2 fill fences.
//
// pg::Cluster::note_write() remembers a user's last write LSN in this
// process only. A user's next read may land on another server (the load
// balancer), which must not serve it from a replica that has not replayed
// that write. So every write that changes a user's cached data also records
// its LSN on the user's Redis shard:
//
//   user:{42}:lsn = "<max write LSN, 16 hex digits>.<n>"     EX marker_ttl
//
// mark() raises the LSN part to max(current, lsn) and bumps n — in one Lua
// script that also deletes the user's cached entries, so no reader can see
// "entry gone" before "marker set". n changes on every mark even when the
// LSN does not grow (concurrent writers may mark out of order), which makes
// the whole value a fence:
//
//   reader (any server)                      writer
//   L1, L2 miss                              commit (LSN L)
//   f = GET marker        ─┐                 mark: marker := max(.., L).n+1,
//   read, min_lsn = f.lsn  │ the load may      DEL user:{42} ...
//   SET entry IF marker==f ┘ be stale if …   publish invalidation
//
// observe() gives a loader its min_lsn (max of this process's note_write
// marker and the shared one) and the fence it saw; the fill of L2 happens
// only if the marker still equals that fence (FencedRemoteCache). A load that
// raced with a write therefore never re-populates L2 with pre-write data: its
// fence changed. (L1 is protected by TwoLevelCache's generations and the
// broadcast.) The marker outlives the read-your-writes window on purpose
// (marker_ttl, default 60 s, longer than any load): an expired marker would
// let an old fence match "no marker" again. A stale min_lsn costs nothing:
// replicas have long replayed it.
//
// Degradation: when the shard cannot be read, observe() answers
// kPrimaryLsn (read from the primary: it cannot know whether a write
// happened elsewhere) and the fence kNoFill (the fill is skipped). mark()
// failures are counted and reported (false); the caller's write has
// committed and still succeeds.
//
// Metrics:
//   surge_profile_marker_errors_total{op="observe"|"mark"}  shard errors
//   surge_profile_primary_reads_total   loads sent to the primary because
//                                       the marker was unreadable
//
// Thread safety: any I/O thread (redis::Shards' rule). Lifetime: the Cluster,
// the Shards and the Registry outlive this object.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "metrics/registry.hpp"
#include "pg/cluster.hpp"
#include "pg/lsn.hpp"
#include "redis/script.hpp"
#include "redis/shards.hpp"

namespace surge::profile {

// A fence no marker ever equals: "do not fill L2".
inline constexpr std::string_view kNoFill = "!";

// 16 lower-case hex digits, zero-padded (the LSN part of a marker).
std::string format_marker_lsn(pg::Lsn lsn);
// The LSN part of a marker value "<16 hex>.<n>"; nullopt when malformed.
std::optional<pg::Lsn> parse_marker(std::string_view value) noexcept;

class SharedMarkers {
 public:
  // shards may be null (no Redis: process-local markers only, fence "").
  SharedMarkers(pg::Cluster& db, redis::Shards* shards, std::chrono::seconds marker_ttl,
                metrics::Registry& registry);

  struct Observed {
    pg::Lsn min_lsn = 0;  // for pg::Cluster::read
    std::string fence;    // "" = no marker; kNoFill = unknown
  };
  // Never throws on Redis errors (degrades as described above).
  boost::asio::awaitable<Observed> observe(std::uint64_t user_id);

  // After a commit at `lsn` (0 = unknown: the marker then forces the
  // primary): note_write locally, then the script (marker, DEL `also_delete`).
  // False if the shard could not be reached. Never throws on Redis errors.
  boost::asio::awaitable<bool> mark(std::uint64_t user_id, pg::Lsn lsn,
                                    std::vector<std::string> also_delete);

  redis::Shards* shards() const noexcept { return shards_; }

 private:
  pg::Cluster& db_;
  redis::Shards* shards_;
  std::chrono::seconds ttl_;
  redis::Script mark_script_;
  metrics::Counter observe_errors_;
  metrics::Counter mark_errors_;
  metrics::Counter primary_reads_;
};

}  // namespace surge::profile
