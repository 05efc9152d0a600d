#pragma once

// The clock of connection deadlines: CLOCK_MONOTONIC_COARSE.
//
// Why not steady_clock: a connection sets a deadline three times per request
// (header read, write, idle) and steady_clock::now() reads the TSC through
// the vDSO each time — about 2% of a /healthz request's CPU. The coarse clock
// is a few loads of a value the kernel updates every tick (1–4 ms), which is
// plenty for timeouts of seconds that the sweeper checks every 20 ms or more.
// Request latency (metrics, access log) still uses steady_clock.

#include <chrono>
#include <ctime>

namespace surge::http {

struct CoarseClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<CoarseClock>;
  static constexpr bool is_steady = true;  // NOLINT(readability-identifier-naming): Clock API

  static time_point now() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
  }
};

}  // namespace surge::http
