#include "metrics/registry.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <deque>
#include <iterator>
#include <limits>
#include <map>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>

namespace surge::metrics {
namespace {

using Cell = std::atomic<std::uint64_t>;

// ---------------------------------------------------------------------------
// Per-thread block lookup.
//
// Each thread caches the blocks of the last few registries it recorded into,
// most recent first. The hot case (one registry, usually global()) is entry 0:
// one compare and one pointer load. Entries are keyed by Registry::id_, never
// by address, so a stale entry of a destroyed registry can never match.
// constinit + trivial type: no TLS init guard or wrapper call on the hot path.
// ---------------------------------------------------------------------------
struct TlsEntry {
  std::uint64_t registry_id;
  Cell* block;
};
constexpr std::size_t kTlsEntries = 4;
// NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables): a per-thread cache
constinit thread_local std::array<TlsEntry, kTlsEntries> tls_blocks{};

// A per-thread serial that is never reused (unlike std::thread::id), so a new
// thread can never inherit, and race with, an exited thread's block.
// NOLINTBEGIN(cppcoreguidelines-avoid-non-const-global-variables): a per-thread id and
// the counters that hand out ids are mutable by nature.
constinit thread_local std::uint64_t tls_thread_serial = 0;
std::atomic<std::uint64_t> next_thread_serial{1};

// Registry ids start at 1: 0 marks an empty TLS entry.
std::atomic<std::uint64_t> next_registry_id{1};
// NOLINTEND(cppcoreguidelines-avoid-non-const-global-variables)

// Single-writer increment: only the owning thread stores to its block, so a
// relaxed load + store never loses an update and avoids a locked instruction.
inline void bump(Cell& cell, std::uint64_t n) noexcept {
  cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

inline void add_double(Cell& cell, double v) noexcept {
  const auto old = std::bit_cast<double>(cell.load(std::memory_order_relaxed));
  cell.store(std::bit_cast<std::uint64_t>(old + v), std::memory_order_relaxed);
}

// The bucket of value = how many bounds lie below it = the first bound with
// value <= bound (bounds sorted, value not NaN). Counted branch-free, two
// bounds per compare: on a realistic mix of latencies a linear or binary
// search mispredicts, measured ~11-19 ns against ~2 ns for this over 17 bounds.
inline std::size_t bucket_of(std::span<const double> bounds, double value) noexcept {
  std::size_t i = 0;
  std::size_t below = 0;
#if defined(__GNUC__)  // GCC and Clang vector extensions: SSE2 / NEON, no -march needed
  using V2d = double __attribute__((vector_size(16)));
  using Mask = decltype(V2d{} < V2d{});  // lanes: -1 where true, 0 where false
  const V2d v = {value, value};
  Mask neg_count = {0, 0};
  for (; i + 2 <= bounds.size(); i += 2) {
    V2d b;
    std::memcpy(&b, bounds.data() + i, sizeof b);  // bounds need not be 16-aligned
    neg_count += (b < v);
  }
  below = static_cast<std::size_t>(-(neg_count[0] + neg_count[1]));
#endif
  for (; i < bounds.size(); ++i) {
    below += static_cast<std::size_t>(bounds[i] < value);
  }
  return below;
}

// ---------------------------------------------------------------------------
// Names, escaping, number formatting.
// ---------------------------------------------------------------------------
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

bool valid_name(std::string_view s) {
  return !s.empty() && is_name_start(s.front()) &&
         std::all_of(s.begin() + 1, s.end(), is_name_char);
}

void require_valid_name(std::string_view what, std::string_view s) {
  if (!valid_name(s)) {
    throw std::invalid_argument(fmt::format("metrics: invalid {} '{}'", what, s));
  }
}

void append_escaped_label_value(std::string& out, std::string_view v) {
  for (const char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Integral values print as integers (no "1e+06"); everything else uses the
// shortest round-trip form, so bounds read 5e-05, 0.0001, 2.5 consistently.
void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::trunc(v) && std::fabs(v) < 9.2e18) {
    fmt::format_to(std::back_inserter(out), "{}", static_cast<std::int64_t>(v));
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

std::string format_double(double v) {
  std::string s;
  append_double(s, v);
  return s;
}

// Canonical label text `a="x",b="y"`: sorted by label name so that the same
// set in another order is the same series, values escaped once here.
std::string label_key(const Labels& labels, bool is_histogram) {
  std::vector<const std::pair<std::string, std::string>*> sorted;
  sorted.reserve(labels.size());
  for (const auto& kv : labels) {
    require_valid_name("label name", kv.first);
    if (is_histogram && kv.first == "le") {
      throw std::invalid_argument("metrics: label 'le' is reserved for histogram buckets");
    }
    sorted.push_back(&kv);
  }
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  std::string key;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (i > 0) {
      if (sorted[i - 1]->first == sorted[i]->first) {
        throw std::invalid_argument(
            fmt::format("metrics: duplicate label name '{}'", sorted[i]->first));
      }
      key += ',';
    }
    key += sorted[i]->first;
    key += "=\"";
    append_escaped_label_value(key, sorted[i]->second);
    key += '"';
  }
  return key;
}

enum class Type { kCounter, kGauge, kHistogram };

std::string_view type_name(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

constexpr std::array<double, 17> kDefaultLatencyBounds = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};

constexpr std::array<std::string_view, 3> kHistogramSuffixes = {"_bucket", "_sum", "_count"};

}  // namespace

std::span<const double> default_latency_bounds() {
  return kDefaultLatencyBounds;
}

// ---------------------------------------------------------------------------
// Registry state. Everything but the blocks' cells is guarded by mu.
// ---------------------------------------------------------------------------
struct Registry::Impl {
  enum class Kind { kCounter, kGauge, kGaugeCallback, kHistogram };

  struct Series {
    Kind kind = Kind::kCounter;
    std::uint32_t cell = 0;                       // counter; histogram's first cell
    const std::vector<double>* bounds = nullptr;  // histogram
    std::vector<std::string> le;                  // histogram: formatted bounds
    std::atomic<std::int64_t>* gauge = nullptr;   // gauge
    std::size_t callback = 0;                     // gauge callback: index in callbacks
    bool hide_while_zero = false;                 // Visibility::kOnceNonZero
  };

  struct Family {
    Type type = Type::kCounter;
    std::string help;                                   // escaped
    std::map<std::string, Series, std::less<>> series;  // by label key: stable output order
  };

  mutable std::mutex mu;
  std::uint32_t next_cell = 0;
  // One array of cells per thread, allocated once: the cells never move.
  std::vector<std::unique_ptr<Cell[]>> blocks;               // NOLINT(*-avoid-c-arrays)
  std::unordered_map<std::uint64_t, Cell*> block_of_thread;  // by tls_thread_serial
  std::map<std::string, Family, std::less<>> families;       // sorted: render order
  std::deque<std::atomic<std::int64_t>> gauges;              // deque: stable addresses
  std::deque<std::function<double()>> callbacks;
  std::deque<std::vector<double>> bounds;  // stable storage behind Histogram::bounds_
  std::size_t last_render_size = 0;

  Cell* block_slow(std::uint64_t registry_id) noexcept;

  // Sums of one cell over every block; caller holds mu.
  std::uint64_t sum_locked(std::uint32_t cell) const {
    std::uint64_t total = 0;
    for (const auto& b : blocks) {
      total += b[cell].load(std::memory_order_relaxed);
    }
    return total;
  }
  double sum_double_locked(std::uint32_t cell) const {
    double total = 0;
    for (const auto& b : blocks) {
      total += std::bit_cast<double>(b[cell].load(std::memory_order_relaxed));
    }
    return total;
  }

  // Cells of a histogram: one per bound, the +Inf bucket, then the sum. The
  // count is derived from the buckets rather than kept in a cell, so a scrape
  // always shows _count == the +Inf bucket, even mid-observe.
  Histogram::Snapshot snapshot_locked(std::uint32_t first_cell, std::size_t nbounds) const {
    Histogram::Snapshot snap;
    snap.cumulative.resize(nbounds + 1);
    for (std::size_t i = 0; i <= nbounds; ++i) {
      snap.count += sum_locked(first_cell + static_cast<std::uint32_t>(i));
      snap.cumulative[i] = snap.count;
    }
    snap.sum = sum_double_locked(first_cell + static_cast<std::uint32_t>(nbounds) + 1);
    return snap;
  }

  // Finds name+labels or makes room for it. Returns {series, created}; on
  // created the caller fills in the series. Caller holds mu.
  std::pair<Series*, bool> find_or_add(std::string_view name, std::string_view help, Type type,
                                       std::string&& key, std::uint32_t cells_needed);
};

// noexcept like the recording calls it serves: failing to allocate a thread's
// block (kCellsPerThread * 8 bytes) terminates rather than silently drop data.
Cell* Registry::Impl::block_slow(std::uint64_t registry_id) noexcept {
  auto& cache = tls_blocks;
  // A recently used registry other than the front one: move it to the front.
  for (std::size_t i = 1; i < kTlsEntries; ++i) {
    if (cache[i].registry_id == registry_id) {
      const TlsEntry hit = cache[i];
      std::copy_backward(cache.begin(), cache.begin() + static_cast<std::ptrdiff_t>(i),
                         cache.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      cache[0] = hit;
      return hit.block;
    }
  }
  if (tls_thread_serial == 0) {
    tls_thread_serial = next_thread_serial.fetch_add(1, std::memory_order_relaxed);
  }
  Cell* block = nullptr;
  {
    const std::lock_guard lock(mu);
    auto [it, inserted] = block_of_thread.try_emplace(tls_thread_serial, nullptr);
    if (inserted) {
      // Value-initialised: every cell starts at zero (0.0 for sum cells too).
      blocks.push_back(std::make_unique<Cell[]>(kCellsPerThread));  // NOLINT(*-avoid-c-arrays)
      it->second = blocks.back().get();
    }
    block = it->second;
  }
  // Evicted from the cache earlier, or first use: the least recent entry goes.
  std::copy_backward(cache.begin(), cache.end() - 1, cache.end());
  cache[0] = TlsEntry{registry_id, block};
  return block;
}

std::pair<Registry::Impl::Series*, bool> Registry::Impl::find_or_add(std::string_view name,
                                                                     std::string_view help,
                                                                     Type type, std::string&& key,
                                                                     std::uint32_t cells_needed) {
  auto fit = families.find(name);
  if (fit != families.end()) {
    if (fit->second.type != type) {
      throw std::invalid_argument(fmt::format("metrics: '{}' registered as {}, now as {}", name,
                                              type_name(fit->second.type), type_name(type)));
    }
    auto sit = fit->second.series.find(key);
    if (sit != fit->second.series.end()) {
      return {&sit->second, false};
    }
  } else {
    // A histogram `x` renders x_bucket, x_sum and x_count: no other family may
    // take those names, nor may a histogram be named after their base.
    if (type == Type::kHistogram) {
      for (const auto suffix : kHistogramSuffixes) {
        if (families.contains(fmt::format("{}{}", name, suffix))) {
          throw std::invalid_argument(
              fmt::format("metrics: histogram '{}' clashes with '{}{}'", name, name, suffix));
        }
      }
    }
    for (const auto suffix : kHistogramSuffixes) {
      if (name.ends_with(suffix)) {
        auto base = families.find(name.substr(0, name.size() - suffix.size()));
        if (base != families.end() && base->second.type == Type::kHistogram) {
          throw std::invalid_argument(
              fmt::format("metrics: '{}' clashes with histogram '{}'", name, base->first));
        }
      }
    }
  }
  if (cells_needed > kCellsPerThread - next_cell) {
    throw std::length_error(fmt::format("metrics: '{}' needs {} cells, {} of {} left", name,
                                        cells_needed, kCellsPerThread - next_cell,
                                        kCellsPerThread));
  }
  if (fit == families.end()) {
    fit = families.emplace(std::string(name), Family{type, escape_help(help), {}}).first;
  }
  auto sit = fit->second.series.emplace(std::move(key), Series{}).first;
  return {&sit->second, true};
}

// ---------------------------------------------------------------------------
// Hot path.
// ---------------------------------------------------------------------------
Cell* Registry::thread_block() noexcept {
  const TlsEntry& front = tls_blocks[0];
  if (front.registry_id == id_) [[likely]] {
    return front.block;
  }
  return impl_->block_slow(id_);
}

void Counter::add(std::uint64_t n) const noexcept {
  if (registry_ == nullptr) [[unlikely]] {
    return;  // default-constructed handle: metrics disabled
  }
  bump(registry_->thread_block()[cell_], n);
}

std::uint64_t Counter::value() const {
  return registry_ != nullptr ? registry_->sum_cell(cell_) : 0;
}

void Histogram::observe(double value) const noexcept {
  // NaN has no bucket and would poison _sum for good: drop it.
  if (registry_ == nullptr || std::isnan(value)) [[unlikely]] {
    return;
  }
  const std::size_t bucket = bucket_of(bounds_, value);
  Cell* cells = registry_->thread_block() + first_cell_;
  bump(cells[bucket], 1);
  add_double(cells[bounds_.size() + 1], value);
}

Histogram::Snapshot Histogram::snapshot() const {
  if (registry_ == nullptr) {
    return Snapshot{std::vector<std::uint64_t>(bounds_.size() + 1, 0), 0, 0};
  }
  const std::lock_guard lock(registry_->impl_->mu);
  return registry_->impl_->snapshot_locked(first_cell_, bounds_.size());
}

// ---------------------------------------------------------------------------
// Registration.
// ---------------------------------------------------------------------------
Registry::Registry()
    : impl_(std::make_unique<Impl>()),
      id_(next_registry_id.fetch_add(1, std::memory_order_relaxed)) {}

Registry::~Registry() = default;

Registry& Registry::global() {
  // Never destroyed: threads and static destructors may still record during
  // exit, after a plain static would have been torn down.
  // NOLINTNEXTLINE(cppcoreguidelines-owning-memory,cppcoreguidelines-avoid-non-const-global-variables)
  static auto* const registry = new Registry();
  return *registry;
}

std::uint64_t Registry::sum_cell(std::uint32_t cell) const {
  const std::lock_guard lock(impl_->mu);
  return impl_->sum_locked(cell);
}

Counter Registry::counter(std::string_view name, std::string_view help, const Labels& labels,
                          Visibility visibility) {
  require_valid_name("metric name", name);
  std::string key = label_key(labels, false);
  const std::lock_guard lock(impl_->mu);
  auto [series, created] = impl_->find_or_add(name, help, Type::kCounter, std::move(key), 1);
  if (created) {
    series->kind = Impl::Kind::kCounter;
    series->cell = impl_->next_cell++;
    series->hide_while_zero = visibility == Visibility::kOnceNonZero;
  }
  return {this, series->cell};
}

Histogram Registry::histogram(std::string_view name, std::string_view help, const Labels& labels,
                              std::span<const double> bounds, Visibility visibility) {
  require_valid_name("metric name", name);
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i]))) {
      throw std::invalid_argument(fmt::format(
          "metrics: histogram '{}' bounds must be finite and strictly increasing", name));
    }
  }
  std::string key = label_key(labels, true);
  // Buckets (one per bound) + the +Inf bucket + the sum.
  const std::uint64_t needed = std::uint64_t{bounds.size()} + 2;
  const std::uint32_t cells =
      needed > kCellsPerThread ? kCellsPerThread + 1 : static_cast<std::uint32_t>(needed);
  const std::lock_guard lock(impl_->mu);
  auto [series, created] = impl_->find_or_add(name, help, Type::kHistogram, std::move(key), cells);
  if (created) {
    series->kind = Impl::Kind::kHistogram;
    series->cell = impl_->next_cell;
    impl_->next_cell += cells;
    series->bounds = &impl_->bounds.emplace_back(bounds.begin(), bounds.end());
    series->le.reserve(bounds.size() + 1);
    for (const double b : bounds) {
      series->le.push_back(format_double(b));
    }
    series->le.emplace_back("+Inf");
    series->hide_while_zero = visibility == Visibility::kOnceNonZero;
  } else if (!std::equal(bounds.begin(), bounds.end(), series->bounds->begin(),
                         series->bounds->end())) {
    throw std::invalid_argument(
        fmt::format("metrics: histogram '{}' registered again with other bounds", name));
  }
  return {this, series->cell, *series->bounds};
}

Gauge Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  require_valid_name("metric name", name);
  std::string key = label_key(labels, false);
  const std::lock_guard lock(impl_->mu);
  auto [series, created] = impl_->find_or_add(name, help, Type::kGauge, std::move(key), 0);
  if (created) {
    series->kind = Impl::Kind::kGauge;
    series->gauge = &impl_->gauges.emplace_back(0);
  } else if (series->kind != Impl::Kind::kGauge) {
    throw std::invalid_argument(
        fmt::format("metrics: gauge '{}' already registered as a callback", name));
  }
  return Gauge(series->gauge);
}

void Registry::gauge_callback(std::string_view name, std::string_view help, const Labels& labels,
                              std::function<double()> read) {
  require_valid_name("metric name", name);
  if (!read) {
    throw std::invalid_argument(fmt::format("metrics: gauge callback '{}' is empty", name));
  }
  std::string key = label_key(labels, false);
  const std::lock_guard lock(impl_->mu);
  auto [series, created] = impl_->find_or_add(name, help, Type::kGauge, std::move(key), 0);
  if (!created) {
    // Replacing the function would race with a scrape calling it unlocked.
    throw std::invalid_argument(
        fmt::format("metrics: gauge '{}' with these labels is already registered", name));
  }
  series->kind = Impl::Kind::kGaugeCallback;
  series->callback = impl_->callbacks.size();
  impl_->callbacks.push_back(std::move(read));
}

// ---------------------------------------------------------------------------
// Exposition.
// ---------------------------------------------------------------------------
std::string Registry::render() const {
  // Callbacks run without the lock: they may be slow or read this registry
  // (Counter::value) themselves. The deque keeps their addresses stable;
  // one registered after this point shows from the next scrape on.
  std::vector<const std::function<double()>*> fns;
  {
    const std::lock_guard lock(impl_->mu);
    fns.reserve(impl_->callbacks.size());
    for (const auto& f : impl_->callbacks) {
      fns.push_back(&f);
    }
  }
  std::vector<double> cb_values;
  cb_values.reserve(fns.size());
  for (const auto* f : fns) {
    try {
      cb_values.push_back((*f)());
    } catch (...) {
      cb_values.push_back(std::numeric_limits<double>::quiet_NaN());
    }
  }

  const std::lock_guard lock(impl_->mu);
  std::string out;
  out.reserve(impl_->last_render_size + 256);
  auto series_name = [&out](std::string_view name, std::string_view suffix,
                            std::string_view labels) {
    out += name;
    out += suffix;
    if (!labels.empty()) {
      out += '{';
      out += labels;
      out += '}';
    }
    out += ' ';
  };
  for (const auto& [name, family] : impl_->families) {
    if (!family.help.empty()) {
      out += "# HELP ";
      out += name;
      out += ' ';
      out += family.help;
      out += '\n';
    }
    out += "# TYPE ";
    out += name;
    out += ' ';
    out += type_name(family.type);
    out += '\n';
    for (const auto& [labels, s] : family.series) {
      switch (s.kind) {
        case Impl::Kind::kCounter: {
          const std::uint64_t value = impl_->sum_locked(s.cell);
          if (value == 0 && s.hide_while_zero) {
            break;
          }
          series_name(name, "", labels);
          fmt::format_to(std::back_inserter(out), "{}\n", value);
          break;
        }
        case Impl::Kind::kGauge:
          series_name(name, "", labels);
          fmt::format_to(std::back_inserter(out), "{}\n", s.gauge->load(std::memory_order_relaxed));
          break;
        case Impl::Kind::kGaugeCallback:
          if (s.callback < cb_values.size()) {
            series_name(name, "", labels);
            append_double(out, cb_values[s.callback]);
            out += '\n';
          }
          break;
        case Impl::Kind::kHistogram: {
          const Histogram::Snapshot snap = impl_->snapshot_locked(s.cell, s.bounds->size());
          if (snap.count == 0 && s.hide_while_zero) {
            break;
          }
          for (std::size_t i = 0; i < snap.cumulative.size(); ++i) {
            out += name;
            out += "_bucket{";
            if (!labels.empty()) {
              out += labels;
              out += ',';
            }
            out += "le=\"";
            out += s.le[i];
            fmt::format_to(std::back_inserter(out), "\"}} {}\n", snap.cumulative[i]);
          }
          series_name(name, "_sum", labels);
          append_double(out, snap.sum);
          out += '\n';
          series_name(name, "_count", labels);
          fmt::format_to(std::back_inserter(out), "{}\n", snap.count);
          break;
        }
      }
    }
  }
  impl_->last_render_size = out.size();
  return out;
}

}  // namespace surge::metrics
