#pragma once

// Redis keys of one user. Every key carries the hash tag {id}, so all of
// them live on the user's shard (cache/redis_remote_cache.hpp: hash_tag) and
// one Lua script may touch several:
//
//   user:{42}          profile cache entry (TwoLevelCache key: L1 and L2)
//                      value: profile.hpp encode_cached()
//   user:{42}:lsn      write marker "<lsn: 16 hex digits>.<n>", TTL marker_ttl
//                      (markers.hpp)
//   user:{42}:signin   today's sign-in status (signin/status.hpp), expires at
//                      the end of that day
//
// Thread safety: plain functions.

#include <cstdint>
#include <string>
#include <string_view>

namespace surge::profile {

// "user:{42}"
std::string profile_key(std::uint64_t user_id);
// "user:{42}<suffix>", e.g. user_key(42, ":signin").
std::string user_key(std::uint64_t user_id, std::string_view suffix);
// The marker of the entry `cache_key` ("user:{42}" → "user:{42}:lsn").
std::string marker_key_of(std::string_view cache_key);
inline std::string marker_key(std::uint64_t user_id) {
  return user_key(user_id, ":lsn");
}

}  // namespace surge::profile
