#include "pg/markers.hpp"

#include <algorithm>

namespace surge::pg {

void WriteMarkers::note(std::uint64_t user_id, Lsn lsn, Clock::time_point now) {
  if (lsn == 0) {
    lsn = kPrimaryLsn;
  }
  Shard& s = shard(user_id);
  const std::lock_guard lock(s.mu);
  if (now >= s.next_purge) {
    std::erase_if(s.entries, [now](const auto& kv) { return kv.second.expires <= now; });
    s.next_purge = now + window_;
  }
  Entry& e = s.entries[user_id];
  if (e.expires <= now) {
    e.lsn = 0;
  }
  e.lsn = std::max(e.lsn, lsn);
  e.expires = now + window_;
}

Lsn WriteMarkers::min_lsn(std::uint64_t user_id, Clock::time_point now) const {
  Shard& s = shard(user_id);
  const std::lock_guard lock(s.mu);
  const auto it = s.entries.find(user_id);
  if (it == s.entries.end() || it->second.expires <= now) {
    return 0;
  }
  return it->second.lsn;
}

std::size_t WriteMarkers::size() const {
  std::size_t n = 0;
  for (const Shard& s : shards_) {
    const std::lock_guard lock(s.mu);
    n += s.entries.size();
  }
  return n;
}

}  // namespace surge::pg
