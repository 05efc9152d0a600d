#include "profile/keys.hpp"

#include <fmt/format.h>

namespace surge::profile {

std::string profile_key(std::uint64_t user_id) {
  return fmt::format("user:{{{}}}", user_id);
}

std::string user_key(std::uint64_t user_id, std::string_view suffix) {
  return fmt::format("user:{{{}}}{}", user_id, suffix);
}

std::string marker_key_of(std::string_view cache_key) {
  std::string key(cache_key);
  key += ":lsn";
  return key;
}

}  // namespace surge::profile
