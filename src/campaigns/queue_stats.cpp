#include "campaigns/queue_stats.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <exception>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "campaigns/stream.hpp"
#include "campaigns/time.hpp"
#include "log/log.hpp"

namespace surge::campaigns {

namespace asio = boost::asio;

namespace {

// KEYS: stream. ARGV: group, exact-count bound.
// → {lag, pending, oldest pending id or "", last delivered id or ""}.
const redis::Script kSample(R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, '', ''} end
local len = redis.call('XLEN', KEYS[1])
local last, reported = nil, false
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local f = {}
  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
  if f['name'] == ARGV[1] then last, reported = f['last-delivered-id'], f['lag'] end
end
if not last then return {len, 0, '', ''} end
local bound = tonumber(ARGV[2])
local lag = #redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', bound)
if lag >= bound then lag = math.min(len, math.max(lag, reported or len)) end
local p = redis.call('XPENDING', KEYS[1], ARGV[1])
return {lag, p[1], p[2] or '', last}
)lua");

}  // namespace

std::int64_t QueueSample::oldest_pending_age_ms(std::int64_t now) const {
  if (oldest_pending.empty()) {
    return 0;
  }
  return std::max<std::int64_t>(0, now - id_ms(oldest_pending).value_or(now));
}

asio::awaitable<QueueSample> sample_queue(redis::Shards& shards, std::size_t shard,
                                          std::string_view stream) {
  const redis::Args keys(std::string{stream});
  const redis::Args args(std::string(kGroup), kExactLagUpTo);
  const redis::Reply reply = co_await shards.eval(shard, kSample, keys, args);
  const auto& a = reply.as_array();
  if (a.size() != 4) {
    throw redis::ProtocolError("queue sample script: expected 4 elements");
  }
  QueueSample out;
  out.lag = a[0].as_integer();
  out.pending = a[1].as_integer();
  out.oldest_pending = a[2].as_string();
  out.last_delivered = a[3].as_string();
  co_return out;
}

// ---------------------------------------------------------------------------
// QueueGauges
// ---------------------------------------------------------------------------

QueueGauges::QueueGauges(metrics::Registry& registry, const std::vector<std::string_view>& streams,
                         std::size_t shard_count)
    : shard_count_(shard_count) {
  series_.reserve(streams.size() * shard_count);
  for (const std::string_view stream : streams) {
    for (std::size_t shard = 0; shard < shard_count; ++shard) {
      const metrics::Labels labels{{"stream", std::string(stream)},
                                   {"shard", std::to_string(shard)}};
      Series& s = series_.emplace_back();
      s.lag = registry.gauge("surge_queue_lag_entries",
                             "Entries not yet delivered to the consumer group.", labels);
      s.pending = registry.gauge("surge_queue_pending_entries",
                                 "Entries delivered but not acknowledged.", labels);
      s.depth = registry.gauge("surge_queue_depth_entries", "Entries not yet persisted.", labels);
      s.oldest_age_ms =
          registry.gauge("surge_queue_oldest_pending_age_ms",
                         "Age of the oldest unacknowledged entry (consumer lag).", labels);
    }
  }
}

void QueueGauges::set(std::size_t stream_index, std::size_t shard,
                      const QueueSample& sample) const {
  const Series& s = series_.at(stream_index * shard_count_ + shard);
  s.lag.set(sample.lag);
  s.pending.set(sample.pending);
  s.depth.set(sample.depth());
  s.oldest_age_ms.set(sample.oldest_pending_age_ms(now_ms()));
}

std::int64_t QueueGauges::total_depth() const {
  std::int64_t sum = 0;
  for (const Series& s : series_) {
    sum += s.depth.value();
  }
  return sum;
}

std::int64_t QueueGauges::max_oldest_pending_age_ms() const {
  std::int64_t out = 0;
  for (const Series& s : series_) {
    out = std::max(out, s.oldest_age_ms.value());
  }
  return out;
}

// ---------------------------------------------------------------------------
// QueueMonitor
// ---------------------------------------------------------------------------

namespace {
constexpr std::array<std::string_view, 2> kStreams = {kRedpacketStream, kFlashsaleStream};
}  // namespace

struct QueueMonitor::State {
  State(redis::Shards& s, metrics::Registry& registry, std::chrono::milliseconds every)
      : shards(s),
        gauges(registry, {kStreams.begin(), kStreams.end()}, s.shard_count()),
        interval(every) {}

  redis::Shards& shards;
  QueueGauges gauges;
  std::chrono::milliseconds interval;
  std::atomic<bool> stopping{false};
  std::unique_ptr<asio::steady_timer> timer;  // on the monitor's io_context
};

asio::awaitable<void> QueueMonitor::run(std::shared_ptr<State> s) {
  while (!s->stopping.load()) {
    for (std::size_t k = 0; k < kStreams.size(); ++k) {
      for (std::size_t shard = 0; shard < s->shards.shard_count() && !s->stopping.load(); ++shard) {
        try {
          s->gauges.set(k, shard, co_await sample_queue(s->shards, shard, kStreams[k]));
        } catch (const std::exception& e) {
          log::debug("queue monitor: shard not sampled",
                     {{"shard", shard}, {"stream", kStreams[k]}, {"error", e.what()}});
        }
      }
    }
    s->timer->expires_after(s->interval);
    boost::system::error_code ec;
    co_await s->timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

QueueMonitor::QueueMonitor(redis::Shards& shards, metrics::Registry& registry,
                           std::chrono::milliseconds interval)
    : state_(std::make_shared<State>(shards, registry, interval)) {}

QueueMonitor::~QueueMonitor() {  // NOLINT(bugprone-exception-escape): stop() posts a cancel
  stop();
}

void QueueMonitor::start(asio::io_context& io) {
  state_->timer = std::make_unique<asio::steady_timer>(io);
  asio::co_spawn(io, run(state_), asio::detached);
}

void QueueMonitor::stop() {
  if (state_->stopping.exchange(true) || !state_->timer) {
    return;
  }
  // The timer belongs to its io_context's thread: cancel it there.
  asio::post(state_->timer->get_executor(), [s = state_] { s->timer->cancel(); });
}

}  // namespace surge::campaigns
