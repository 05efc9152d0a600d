#include "metrics/registry.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace surge::metrics {
namespace {

TEST(MetricsRegistry, CounterSumsAcrossThreadsExactly) {
  Registry registry;
  const Counter c = registry.counter("requests_total", "Requests.");
  constexpr int kThreads = 4;
  constexpr std::uint64_t kPerThread = 100000;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([c] {
      for (std::uint64_t i = 0; i < kPerThread; ++i) {
        c.add();
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(c.value(), kThreads * kPerThread);
  // Exited threads leave their blocks counted.
  EXPECT_NE(registry.render().find("requests_total 400000\n"), std::string::npos);
}

TEST(MetricsRegistry, ScrapeWhileRecordingIsMonotonic) {
  Registry registry;
  const Counter c = registry.counter("events_total", "");
  const Histogram h = registry.histogram("latency_seconds", "");
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        c.add(2);
        h.observe(0.001 * (i % 7));
      }
    });
  }
  std::uint64_t last = 0;
  while (!stop.load()) {
    const std::uint64_t now = c.value();
    EXPECT_GE(now, last);
    last = now;
    const Histogram::Snapshot s = h.snapshot();
    EXPECT_EQ(s.cumulative.back(), s.count);
    (void)registry.render();
    if (now == 80000) {
      stop = true;
    }
  }
  for (auto& t : writers) {
    t.join();
  }
  EXPECT_EQ(h.snapshot().count, 40000U);
}

TEST(MetricsRegistry, SameNameAndLabelsReturnSameHandle) {
  Registry registry;
  const Counter a = registry.counter("hits_total", "Hits.", {{"route", "/a"}, {"code", "200"}});
  // Label order does not make another series.
  const Counter b = registry.counter("hits_total", "Hits.", {{"code", "200"}, {"route", "/a"}});
  const Counter other = registry.counter("hits_total", "Hits.", {{"route", "/b"}});
  a.add(3);
  b.add(4);
  other.add(1);
  EXPECT_EQ(a.value(), 7U);
  EXPECT_EQ(b.value(), 7U);
  EXPECT_EQ(other.value(), 1U);

  const Gauge g1 = registry.gauge("inflight", "");
  const Gauge g2 = registry.gauge("inflight", "");
  g1.set(5);
  EXPECT_EQ(g2.value(), 5);

  const Histogram h1 = registry.histogram("rt_seconds", "", {{"x", "1"}});
  const Histogram h2 = registry.histogram("rt_seconds", "", {{"x", "1"}});
  h1.observe(0.5);
  EXPECT_EQ(h2.snapshot().count, 1U);
}

TEST(MetricsRegistry, HistogramBucketsAreCumulative) {
  Registry registry;
  const std::array<double, 3> bounds = {0.1, 1, 10};
  const Histogram h = registry.histogram("op_seconds", "", {}, bounds);
  h.observe(0.05);  // le 0.1
  h.observe(0.1);   // le 0.1: the bound is inclusive
  h.observe(0.5);   // le 1
  h.observe(10);    // le 10
  h.observe(11);    // +Inf
  h.observe(1e9);   // +Inf
  const Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{2, 3, 4, 6}));
  EXPECT_EQ(s.count, 6U);
  EXPECT_DOUBLE_EQ(s.sum, 0.05 + 0.1 + 0.5 + 10 + 11 + 1e9);
}

TEST(MetricsRegistry, HistogramBucketEdgesMatchLowerBound) {
  // Every bound count parity (the search works two bounds at a time), values
  // on, just below and just above each bound, and far outside.
  const std::vector<double> all(default_latency_bounds().begin(), default_latency_bounds().end());
  for (std::size_t n = 0; n <= all.size(); ++n) {
    Registry registry;
    const std::vector<double> bounds(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n));
    const Histogram h = registry.histogram("edge_seconds", "", {}, bounds);
    std::vector<double> values = {-1,
                                  0,
                                  1e-9,
                                  1e6,
                                  std::numeric_limits<double>::infinity(),
                                  -std::numeric_limits<double>::infinity()};
    for (const double b : all) {
      values.insert(values.end(), {b, std::nextafter(b, 0.0), std::nextafter(b, 100.0)});
    }
    std::vector<std::uint64_t> expected(n + 1, 0);
    for (const double v : values) {
      h.observe(v);
      ++expected[static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) -
                                          bounds.begin())];
    }
    for (std::size_t i = 1; i < expected.size(); ++i) {
      expected[i] += expected[i - 1];
    }
    EXPECT_EQ(h.snapshot().cumulative, expected) << n << " bounds";
  }
}

TEST(MetricsRegistry, HistogramSumIsExactEnoughForLatencies) {
  Registry registry;
  const Histogram h = registry.histogram("db_seconds", "");
  for (int i = 0; i < 1000000; ++i) {
    h.observe(0.000123);
  }
  const Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.count, 1000000U);
  EXPECT_NEAR(s.sum, 123.0, 1e-6);
  // 0.000123 lies between 0.0001 and 0.00025: the third bucket.
  EXPECT_EQ(s.cumulative[1], 0U);
  EXPECT_EQ(s.cumulative[2], 1000000U);
}

TEST(MetricsRegistry, HistogramIgnoresNaN) {
  Registry registry;
  const Histogram h = registry.histogram("x_seconds", "");
  h.observe(std::numeric_limits<double>::quiet_NaN());
  h.observe(0.001);
  EXPECT_EQ(h.snapshot().count, 1U);
  EXPECT_DOUBLE_EQ(h.snapshot().sum, 0.001);
}

TEST(MetricsRegistry, RenderMatchesGolden) {
  Registry registry;
  // Registered out of order: families come out sorted by name.
  registry.gauge("zeta_connections", "Open connections.").set(-3);
  const Counter req =
      registry.counter("http_requests_total", "HTTP requests\nby \\route.", {{"route", "/x"}});
  const Counter weird = registry.counter("http_requests_total", "ignored: first help wins",
                                         {{"route", "a\"b\\c\nd"}});
  registry.counter("alpha_total", "");
  const std::array<double, 3> bounds = {0.00005, 0.0001, 2.5};
  const Histogram h =
      registry.histogram("http_request_duration_seconds", "Latency.", {{"method", "GET"}}, bounds);
  registry.gauge_callback("pool_size", "Pool size.", {{"pool", "db"}}, [] { return 12.0; });
  registry.gauge_callback("ratio", "A ratio.", {}, [] { return 0.25; });
  req.add(5);
  weird.add(1);
  h.observe(0.00004);
  h.observe(0.001);
  h.observe(3);

  const std::string expected =
      "# TYPE alpha_total counter\n"
      "alpha_total 0\n"
      "# HELP http_request_duration_seconds Latency.\n"
      "# TYPE http_request_duration_seconds histogram\n"
      "http_request_duration_seconds_bucket{method=\"GET\",le=\"5e-05\"} 1\n"
      "http_request_duration_seconds_bucket{method=\"GET\",le=\"0.0001\"} 1\n"
      "http_request_duration_seconds_bucket{method=\"GET\",le=\"2.5\"} 2\n"
      "http_request_duration_seconds_bucket{method=\"GET\",le=\"+Inf\"} 3\n"
      "http_request_duration_seconds_sum{method=\"GET\"} 3.00104\n"
      "http_request_duration_seconds_count{method=\"GET\"} 3\n"
      "# HELP http_requests_total HTTP requests\\nby \\\\route.\n"
      "# TYPE http_requests_total counter\n"
      "http_requests_total{route=\"/x\"} 5\n"
      "http_requests_total{route=\"a\\\"b\\\\c\\nd\"} 1\n"
      "# HELP pool_size Pool size.\n"
      "# TYPE pool_size gauge\n"
      "pool_size{pool=\"db\"} 12\n"
      "# HELP ratio A ratio.\n"
      "# TYPE ratio gauge\n"
      "ratio 0.25\n"
      "# HELP zeta_connections Open connections.\n"
      "# TYPE zeta_connections gauge\n"
      "zeta_connections -3\n";
  EXPECT_EQ(registry.render(), expected);
}

TEST(MetricsRegistry, DefaultBoundsRender) {
  Registry registry;
  registry.histogram("d_seconds", "");
  const std::string text = registry.render();
  const std::array<const char*, 18> les = {
      "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
      "0.05",  "0.1",    "0.25",    "0.5",    "1",     "2.5",    "5",     "10",   "+Inf"};
  for (const char* le : les) {
    EXPECT_NE(text.find(std::string("d_seconds_bucket{le=\"") + le + "\"} 0\n"), std::string::npos)
        << le;
  }
  EXPECT_NE(text.find("d_seconds_sum 0\nd_seconds_count 0\n"), std::string::npos);
  EXPECT_EQ(default_latency_bounds().size(), 17U);
}

TEST(MetricsRegistry, GaugeAndCallbackRendering) {
  Registry registry;
  const Gauge g = registry.gauge("queue_depth", "Queued jobs.", {{"queue", "mail"}});
  g.set(10);
  g.add(-4);
  EXPECT_EQ(g.value(), 6);
  double pool = 1.5;
  registry.gauge_callback("queue_depth", "Queued jobs.", {{"queue", "sms"}}, [&] { return pool; });
  // A callback may read the registry itself: it runs outside the lock.
  const Counter c = registry.counter("c_total", "");
  c.add(2);
  registry.gauge_callback("derived", "", {}, [c] { return static_cast<double>(c.value()) * 2; });
  registry.gauge_callback("broken", "", {}, []() -> double { throw std::runtime_error("x"); });
  registry.gauge_callback("big", "", {}, [] { return 1e18; });

  std::string text = registry.render();
  EXPECT_NE(text.find("queue_depth{queue=\"mail\"} 6\nqueue_depth{queue=\"sms\"} 1.5\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("derived 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("broken NaN\n"), std::string::npos) << text;
  EXPECT_NE(text.find("big 1000000000000000000\n"), std::string::npos) << text;
  pool = 7;
  text = registry.render();
  EXPECT_NE(text.find("queue_depth{queue=\"sms\"} 7\n"), std::string::npos) << text;

  EXPECT_THROW(registry.gauge("queue_depth", "", {{"queue", "sms"}}), std::invalid_argument);
  EXPECT_THROW(registry.gauge_callback("queue_depth", "", {{"queue", "mail"}}, [] { return 0.0; }),
               std::invalid_argument);
  EXPECT_THROW(registry.gauge_callback("empty", "", {}, nullptr), std::invalid_argument);
}

TEST(MetricsRegistry, InvalidNamesThrow) {
  Registry registry;
  EXPECT_THROW(registry.counter("", ""), std::invalid_argument);
  EXPECT_THROW(registry.counter("1abc", ""), std::invalid_argument);
  EXPECT_THROW(registry.counter("a-b", ""), std::invalid_argument);
  EXPECT_THROW(registry.counter("a b", ""), std::invalid_argument);
  EXPECT_THROW(registry.gauge("é", ""), std::invalid_argument);
  EXPECT_THROW(registry.histogram("a.b", ""), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok", "", {{"bad-label", "v"}}), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok", "", {{"", "v"}}), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok", "", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h", "", {{"le", "1"}}), std::invalid_argument);
  const std::array<double, 2> unsorted = {1, 0.5};
  EXPECT_THROW(registry.histogram("h", "", {}, unsorted), std::invalid_argument);
  const std::array<double, 2> dup = {1, 1};
  EXPECT_THROW(registry.histogram("h", "", {}, dup), std::invalid_argument);
  const std::array<double, 1> inf = {std::numeric_limits<double>::infinity()};
  EXPECT_THROW(registry.histogram("h", "", {}, inf), std::invalid_argument);

  // Valid ones do not throw.
  EXPECT_NO_THROW(registry.counter("_a:b_c9", ""));
  EXPECT_NO_THROW(registry.counter(":x", "", {{"_l1", "any \"value\""}}));
  // A failed registration left nothing behind.
  EXPECT_EQ(registry.render().find("# TYPE ok"), std::string::npos);
  EXPECT_EQ(registry.render().find("# TYPE h "), std::string::npos);
}

TEST(MetricsRegistry, TypeConflictThrows) {
  Registry registry;
  registry.counter("thing", "");
  EXPECT_THROW(registry.gauge("thing", ""), std::invalid_argument);
  EXPECT_THROW(registry.histogram("thing", ""), std::invalid_argument);
  EXPECT_THROW(registry.gauge_callback("thing", "", {}, [] { return 1.0; }), std::invalid_argument);
  // Labels do not matter: the family has one type.
  EXPECT_THROW(registry.gauge("thing", "", {{"a", "b"}}), std::invalid_argument);

  registry.histogram("lat", "");
  EXPECT_THROW(registry.counter("lat", ""), std::invalid_argument);
  // Names a histogram renders are taken too, in both orders.
  EXPECT_THROW(registry.counter("lat_count", ""), std::invalid_argument);
  EXPECT_THROW(registry.gauge("lat_sum", ""), std::invalid_argument);
  registry.counter("other_bucket", "");
  EXPECT_THROW(registry.histogram("other", ""), std::invalid_argument);
  // Same series with other bounds is a programming error.
  const std::array<double, 1> one = {1};
  EXPECT_THROW(registry.histogram("lat", "", {}, one), std::invalid_argument);
}

TEST(MetricsRegistry, CountersUpToCapacityThenLengthError) {
  Registry registry;
  std::vector<Counter> counters;
  counters.reserve(Registry::kCellsPerThread);
  for (std::uint32_t i = 0; i < Registry::kCellsPerThread; ++i) {
    counters.push_back(registry.counter("c_total", "", {{"i", std::to_string(i)}}));
  }
  EXPECT_THROW(registry.counter("c_total", "", {{"i", "overflow"}}), std::length_error);
  EXPECT_THROW(registry.histogram("h_seconds", ""), std::length_error);
  // Existing series are still found, and every cell works.
  EXPECT_NO_THROW(registry.counter("c_total", "", {{"i", "7"}}));
  counters.front().add(1);
  counters.back().add(2);
  EXPECT_EQ(counters.front().value(), 1U);
  EXPECT_EQ(counters.back().value(), 2U);
  // The failed registrations left no families behind.
  EXPECT_EQ(registry.render().find("h_seconds"), std::string::npos);
}

TEST(MetricsRegistry, HistogramsUpToCapacityThenLengthError) {
  Registry registry;
  // 17 bounds: 17 buckets + +Inf + sum = 19 cells each.
  constexpr std::uint32_t kCells = 19;
  const std::uint32_t fit = Registry::kCellsPerThread / kCells;
  std::vector<Histogram> hs;
  hs.reserve(fit);
  for (std::uint32_t i = 0; i < fit; ++i) {
    hs.push_back(registry.histogram("h_seconds", "", {{"i", std::to_string(i)}}));
  }
  EXPECT_THROW(registry.histogram("h_seconds", "", {{"i", "overflow"}}), std::length_error);
  // The remainder still fits counters.
  for (std::uint32_t i = 0; i < Registry::kCellsPerThread - (fit * kCells); ++i) {
    registry.counter("rest_total", "", {{"i", std::to_string(i)}});
  }
  EXPECT_THROW(registry.counter("rest_total", "", {{"i", "overflow"}}), std::length_error);
  hs.back().observe(100);
  EXPECT_EQ(hs.back().snapshot().cumulative.back(), 1U);
  Registry fresh;
  std::vector<double> too_many(Registry::kCellsPerThread - 1);
  for (std::size_t i = 0; i < too_many.size(); ++i) {
    too_many[i] = static_cast<double>(i);
  }
  EXPECT_THROW(fresh.histogram("big", "", {}, too_many), std::length_error);
}

TEST(MetricsRegistry, ManyRegistriesPerThreadStayApart) {
  // More registries than the per-thread cache holds, used round-robin, and
  // registries created where destroyed ones lived.
  for (int round = 0; round < 3; ++round) {
    std::vector<std::unique_ptr<Registry>> regs;
    std::vector<Counter> cs;
    for (int i = 0; i < 7; ++i) {
      regs.push_back(std::make_unique<Registry>());
      cs.push_back(regs.back()->counter("n_total", ""));
    }
    for (int rep = 0; rep < 10; ++rep) {
      for (std::size_t i = 0; i < cs.size(); ++i) {
        cs[i].add(i + 1);
      }
    }
    for (std::size_t i = 0; i < cs.size(); ++i) {
      EXPECT_EQ(cs[i].value(), 10 * (i + 1));
    }
  }
}

TEST(MetricsRegistry, DefaultHandlesRecordNothing) {
  const Counter c;
  c.add(5);
  EXPECT_EQ(c.value(), 0U);
  const Histogram h;
  h.observe(1);
  EXPECT_EQ(h.snapshot().count, 0U);
}

TEST(MetricsRegistry, GlobalIsOneInstance) {
  Registry& a = Registry::global();
  Registry& b = Registry::global();
  EXPECT_EQ(&a, &b);
  const Counter c = a.counter("surge_registry_test_total", "Test only.");
  const std::uint64_t before = c.value();  // --gtest_repeat reuses the global
  c.add();
  std::thread([c] { c.add(); }).join();
  EXPECT_EQ(b.counter("surge_registry_test_total", "Test only.").value(), before + 2);
}

}  // namespace
}  // namespace surge::metrics
