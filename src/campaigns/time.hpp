#pragma once

// Campaign times: RFC 3339 in the API, Unix milliseconds in Redis (the Lua
// scripts compare them with the shard's TIME) and in the database queries
// (extract(epoch ...) * 1000).
//
// Thread safety: plain functions.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace surge::campaigns {

// "2026-11-25T08:00:00Z", "2026-11-25T08:00:00.250+08:00" → Unix ms.
// nullopt unless the text is a full RFC 3339 date-time (T or t or space,
// Z/z or ±HH:MM offset, optional fraction, truncated to ms).
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view s);

// Unix ms → "2026-11-25T08:00:00Z" (".250" added when ms != 0), UTC.
std::string format_rfc3339(std::int64_t unix_ms);

// The system clock in Unix ms.
std::int64_t now_ms();

// pending before starts_at, active in [starts_at, ends_at) while anything
// is left, finished afterwards or once nothing is left.
std::string_view campaign_status(std::int64_t now, std::int64_t starts_ms, std::int64_t ends_ms,
                                 std::int64_t remaining);

// When a campaign's keys leave its shard (campaigns.hot_retention_s):
// `retention` after its end, in Unix ms; 0 (never) when retention is 0.
std::int64_t hot_expiry_ms(std::int64_t ends_ms, std::chrono::seconds retention);

}  // namespace surge::campaigns
