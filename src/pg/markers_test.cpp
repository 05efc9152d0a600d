#include "pg/markers.hpp"

#include <gtest/gtest.h>

namespace surge::pg {
namespace {

using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)
using Clock = WriteMarkers::Clock;

TEST(PgWriteMarkersTest, AWriteIsRememberedForTheWindow) {
  WriteMarkers m(5000ms);
  const auto t0 = Clock::time_point{} + 1h;
  EXPECT_EQ(m.min_lsn(7, t0), 0U);
  m.note(7, 100, t0);
  EXPECT_EQ(m.min_lsn(7, t0), 100U);
  EXPECT_EQ(m.min_lsn(7, t0 + 4999ms), 100U);
  EXPECT_EQ(m.min_lsn(7, t0 + 5000ms), 0U);
  EXPECT_EQ(m.min_lsn(8, t0), 0U);  // other users unaffected
}

TEST(PgWriteMarkersTest, KeepsTheHighestLsnAndExtendsTheWindow) {
  WriteMarkers m(1000ms);
  const auto t0 = Clock::time_point{} + 1h;
  m.note(1, 500, t0);
  m.note(1, 300, t0 + 600ms);  // an older LSN never lowers the need
  EXPECT_EQ(m.min_lsn(1, t0 + 1500ms), 500U);
  EXPECT_EQ(m.min_lsn(1, t0 + 1600ms), 0U);
}

TEST(PgWriteMarkersTest, AnExpiredMarkerDoesNotLeakItsLsn) {
  WriteMarkers m(1000ms);
  const auto t0 = Clock::time_point{} + 1h;
  m.note(1, 900, t0);
  m.note(1, 200, t0 + 2000ms);
  EXPECT_EQ(m.min_lsn(1, t0 + 2000ms), 200U);
}

TEST(PgWriteMarkersTest, UnknownLsnSendsReadsToThePrimary) {
  WriteMarkers m(1000ms);
  const auto t0 = Clock::time_point{} + 1h;
  m.note(3, 0, t0);
  EXPECT_EQ(m.min_lsn(3, t0), kPrimaryLsn);
}

TEST(PgWriteMarkersTest, ExpiredEntriesArePurgedAsWritesArrive) {
  WriteMarkers m(100ms);
  const auto t0 = Clock::time_point{} + 1h;
  for (std::uint64_t u = 0; u < 1000; ++u) {
    m.note(u, 1, t0);
  }
  EXPECT_EQ(m.size(), 1000U);
  // Later writes to every shard purge the expired ones.
  for (std::uint64_t u = 1000; u < 2000; ++u) {
    m.note(u, 1, t0 + 1s);
  }
  EXPECT_EQ(m.size(), 1000U);
}

}  // namespace
}  // namespace surge::pg
