#pragma once

// WAL positions (pg_lsn). The text form is two hexadecimal 32-bit halves,
// "16/B374D848" = 0x16'B374D848.
//
// Read-your-writes compares them: a replica whose pg_last_wal_replay_lsn()
// is >= the LSN returned by a write's commit has applied that write.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace surge::pg {

using Lsn = std::uint64_t;

// A min_lsn no replica can reach: "read from the primary".
inline constexpr Lsn kPrimaryLsn = std::numeric_limits<Lsn>::max();

// "16/B374D848" → 0x16B374D848. Upper or lower case; each half 1–8 hex
// digits. nullopt on anything else (including "", "1/", "/1", "0x1/2").
std::optional<Lsn> parse_lsn(std::string_view text) noexcept;

// 0x16B374D848 → "16/B374D848" (upper case, like the server).
std::string format_lsn(Lsn lsn);

}  // namespace surge::pg
