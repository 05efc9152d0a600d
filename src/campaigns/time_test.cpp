#include "campaigns/time.hpp"

#include <gtest/gtest.h>

namespace surge::campaigns {
namespace {

TEST(CampaignTime, ParsesRfc3339) {
  EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-25T08:00:00Z"), 1795593600000);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-25T16:00:00+08:00"), 1795593600000);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-25T08:00:00.25Z"), 1795593600250);
  EXPECT_EQ(parse_rfc3339_ms("1969-12-31T23:59:59Z"), -1000);
}

TEST(CampaignTime, RejectsMalformed) {
  for (const char* bad : {"", "2026-11-25", "2026-11-25T08:00:00", "2026-13-01T00:00:00Z",
                          "2026-02-30T00:00:00Z", "2026-11-25T08:00:00.Z", "2026-11-25T08:00Z",
                          "2026-11-25T08:00:00Zx", "2026-11-25T08:00:00+0800", "tomorrow"}) {
    EXPECT_FALSE(parse_rfc3339_ms(bad).has_value()) << bad;
  }
}

TEST(CampaignTime, FormatsUtc) {
  EXPECT_EQ(format_rfc3339(1795593600000), "2026-11-25T08:00:00Z");
  EXPECT_EQ(format_rfc3339(1795593600250), "2026-11-25T08:00:00.250Z");
  EXPECT_EQ(format_rfc3339(-1000), "1969-12-31T23:59:59Z");
  EXPECT_EQ(parse_rfc3339_ms(format_rfc3339(1795593600250)), 1795593600250);
}

TEST(CampaignTime, HotExpiryIsTheRetentionAfterTheEnd) {
  using namespace std::chrono_literals;
  EXPECT_EQ(hot_expiry_ms(1795593600000, 24h), 1795593600000 + 86'400'000);
  EXPECT_EQ(hot_expiry_ms(1795593600000, 1s), 1795593601000);
  EXPECT_EQ(hot_expiry_ms(1795593600000, 0s), 0);  // never
}

TEST(CampaignTime, Status) {
  EXPECT_EQ(campaign_status(0, 10, 20, 5), "pending");
  EXPECT_EQ(campaign_status(10, 10, 20, 5), "active");
  EXPECT_EQ(campaign_status(15, 10, 20, 0), "finished");
  EXPECT_EQ(campaign_status(20, 10, 20, 5), "finished");
}

}  // namespace
}  // namespace surge::campaigns
