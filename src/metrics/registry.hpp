#pragma once

// Metrics registry: counters, gauges and histograms rendered in the
// Prometheus text format.
//
// Recording never becomes the bottleneck: every thread that records owns a
// block of cells (one cell per counter, nbuckets + 2 cells per histogram).
// A recording thread writes only its own block, with relaxed atomic
// load + store (single writer, no locked instruction, no shared cache line);
// a scrape sums the cells of all blocks. Handles are resolved once at start
// (STYLE.md practice 16) and are plain indexes into the blocks.
//
// Thread safety: counter()/histogram()/gauge() and render() may be called from
// any thread. Counter::add and Histogram::observe are wait-free after a
// thread's first use (the first use allocates that thread's block under a
// mutex). Lifetime: the Registry must outlive every handle and every thread
// that records into it.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace surge::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Registry;

// A monotonically increasing count. Copyable handle; a default-constructed one
// records nothing (metrics switched off).
class Counter {
 public:
  Counter() = default;
  void add(std::uint64_t n = 1) const noexcept;
  // Sum over all threads (scrape-time cost).
  std::uint64_t value() const;

 private:
  friend class Registry;
  Counter(Registry* registry, std::uint32_t cell) : registry_(registry), cell_(cell) {}
  Registry* registry_ = nullptr;
  std::uint32_t cell_ = 0;
};

// A cumulative histogram with fixed upper bounds (seconds for latencies).
// Bounds are inclusive (value <= le); NaN observations are dropped. A
// default-constructed handle records nothing.
class Histogram {
 public:
  Histogram() = default;
  void observe(double value) const noexcept;

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  friend class Registry;
  Histogram(Registry* registry, std::uint32_t first_cell, std::span<const double> bounds)
      : registry_(registry), first_cell_(first_cell), bounds_(bounds) {}
  Registry* registry_ = nullptr;
  std::uint32_t first_cell_ = 0;
  std::span<const double> bounds_;  // owned by the registry
};

// A value that goes up and down, shared by all threads (one atomic).
class Gauge {
 public:
  Gauge() = default;
  void set(std::int64_t v) const noexcept { cell_->store(v, std::memory_order_relaxed); }
  void add(std::int64_t d) const noexcept { cell_->fetch_add(d, std::memory_order_relaxed); }
  std::int64_t value() const noexcept { return cell_->load(std::memory_order_relaxed); }

 private:
  friend class Registry;
  explicit Gauge(std::atomic<std::int64_t>* cell) : cell_(cell) {}
  std::atomic<std::int64_t>* cell_ = nullptr;
};

// Default latency buckets, seconds: 50 µs … 10 s.
std::span<const double> default_latency_bounds();

// Whether a series is rendered before it records anything. Families with a
// series per status code keep most of them at zero: kOnceNonZero keeps
// /metrics readable without resolving handles lazily on the hot path.
enum class Visibility : unsigned char { kAlways, kOnceNonZero };

class Registry {
 public:
  // Cells per thread block; registering beyond it throws std::length_error.
  static constexpr std::uint32_t kCellsPerThread = 1U << 16;

  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registering the same name + labels twice returns the same handle.
  // Names and label names must match [a-zA-Z_:][a-zA-Z0-9_:]*; violations
  // throw std::invalid_argument (a programming error caught at start).
  Counter counter(std::string_view name, std::string_view help, const Labels& labels = {},
                  Visibility visibility = Visibility::kAlways);
  Histogram histogram(std::string_view name, std::string_view help, const Labels& labels = {},
                      std::span<const double> bounds = default_latency_bounds(),
                      Visibility visibility = Visibility::kAlways);
  Gauge gauge(std::string_view name, std::string_view help, const Labels& labels = {});

  // A gauge whose value is computed at scrape time (pool sizes, queue depth).
  void gauge_callback(std::string_view name, std::string_view help, const Labels& labels,
                      std::function<double()> read);

  // Prometheus text exposition format 0.0.4: families sorted by name, one
  // HELP and TYPE line each, label values escaped.
  std::string render() const;

  // The process-wide registry used by the server and modules.
  static Registry& global();

 private:
  friend class Counter;
  friend class Histogram;
  struct Impl;
  std::atomic<std::uint64_t>* thread_block() noexcept;
  std::uint64_t sum_cell(std::uint32_t cell) const;
  std::unique_ptr<Impl> impl_;
  // Process-unique, never reused: the key of each thread's cached block, so a
  // Registry created at a dead one's address never finds the dead one's block.
  std::uint64_t id_;
};

}  // namespace surge::metrics
