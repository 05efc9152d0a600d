#include "worker/consumer.hpp"

#include <algorithm>
#include <exception>
#include <unistd.h>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "campaigns/queue_stats.hpp"
#include "campaigns/time.hpp"
#include "log/log.hpp"

namespace surge::worker {

namespace asio = boost::asio;
using campaigns::Entry;

// ===========================================================================
// Shared state
// ===========================================================================

struct StreamMetrics {
  metrics::Counter persisted;
  metrics::Counter batches;
  metrics::Counter dead_letters;
  metrics::Counter claimed;
  metrics::Counter errors;
};

struct Consumer {
  Sink* sink = nullptr;
  std::size_t shard = 0;
  std::size_t index = 0;
  std::string name;
  std::string owner;  // "<host>:<pid>:", the start of this process's names
  std::string stream;
  std::string dead;
  std::size_t stream_index = 0;  // of the sink, for the queue gauges
  StreamMetrics* metrics = nullptr;
  asio::io_context* io = nullptr;
  // Ids of committed entries waiting for their XACK, which leaves with the
  // reader's next XREADGROUP (read_new). Only touched on the consumer's
  // thread.
  std::vector<std::string> to_ack;
};

struct Pool::Shared {
  Settings settings;
  redis::Shards& shards;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> running{0};
  std::mutex mutex;
  std::condition_variable exited;
  std::vector<std::unique_ptr<StreamMetrics>> stream_metrics;
  std::unique_ptr<campaigns::QueueGauges> gauges;
  std::vector<std::shared_ptr<Consumer>> consumers;

  Shared(Settings s, redis::Shards& sh) : settings(s), shards(sh) {}
};

asio::awaitable<bool> Sink::abandon(const Entry& /*entry*/) {
  co_return true;  // nothing to record or undo
}

namespace {

using SharedPtr = std::shared_ptr<Pool::Shared>;

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(d);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// ===========================================================================
// Redis steps
// ===========================================================================

asio::awaitable<bool> ensure_group(SharedPtr s, std::shared_ptr<Consumer> c) {
  try {
    co_await s->shards.command(c->shard,
                               {"XGROUP", "CREATE", c->stream, campaigns::kGroup, "0", "MKSTREAM"});
  } catch (const redis::ServerError& e) {
    if (e.prefix() != "BUSYGROUP") {
      log::warn("worker: XGROUP CREATE failed", {{"stream", c->stream}, {"error", e.what()}});
      co_return false;
    }
  } catch (const redis::Error& e) {
    co_return false;
  }
  co_return true;
}

asio::awaitable<void> ack(SharedPtr s, std::shared_ptr<Consumer> c, std::vector<std::string> ids) {
  if (ids.empty()) {
    co_return;
  }
  std::vector<std::string> args{"XACK", c->stream, std::string(campaigns::kGroup)};
  args.insert(args.end(), ids.begin(), ids.end());
  redis::Command command(args);
  co_await s->shards.command(c->shard, std::move(command));
}

// Appends the entry to the dead-letter stream, then XACKs it (in this
// order: a crash in between leaves a duplicate dead letter, never a loss).
// A well-formed entry is first abandoned by its sink (Sink::abandon).
asio::awaitable<void> dead_letter(SharedPtr s, std::shared_ptr<Consumer> c, Entry entry,
                                  std::string reason, std::int64_t deliveries, bool well_formed) {
  if (well_formed && !co_await c->sink->abandon(entry)) {
    std::vector<std::string> ids{entry.id};
    co_await ack(s, c, std::move(ids));  // persisted after all
    co_return;
  }
  std::vector<std::string> args{"XADD", c->dead, "*"};
  for (const auto& [k, v] : entry.fields) {
    args.push_back(k);
    args.push_back(v);
  }
  args.emplace_back("source_id");
  args.push_back(entry.id);
  args.emplace_back("deliveries");
  args.push_back(std::to_string(deliveries));
  args.emplace_back("reason");
  args.push_back(reason);
  redis::Command command(args);
  co_await s->shards.command(c->shard, std::move(command));
  std::vector<std::string> ids{entry.id};
  co_await ack(s, c, std::move(ids));
  c->metrics->dead_letters.add();
  log::warn("worker: entry dead-lettered", {{"stream", c->stream},
                                            {"shard", c->shard},
                                            {"id", entry.id},
                                            {"deliveries", deliveries},
                                            {"reason", reason}});
}

asio::awaitable<bool> persist_and_ack(SharedPtr /*s*/, std::shared_ptr<Consumer> c,
                                      const std::vector<Entry>& batch);

// Idle entries of any consumer of the group, now ours; those delivered too
// often are dead-lettered here and left out of the result.
asio::awaitable<std::vector<Entry>> claim(SharedPtr s, std::shared_ptr<Consumer> c) {
  const auto idle = static_cast<std::int64_t>(s->settings.claim_idle.count());
  const auto count = static_cast<std::int64_t>(s->settings.batch_size);
  redis::Command command("XAUTOCLAIM", c->stream, campaigns::kGroup, c->name, idle, "0-0", "COUNT",
                         count);
  const redis::Reply reply = co_await s->shards.command(c->shard, std::move(command));
  const auto& parts = reply.as_array();
  if (parts.size() < 2) {
    co_return std::vector<Entry>{};
  }
  std::vector<Entry> entries = campaigns::parse_entries(parts[1]);
  if (entries.empty()) {
    co_return entries;
  }
  c->metrics->claimed.add(entries.size());
  // Their delivery counts (they are ours now, so nobody else moves them).
  redis::Command pending("XPENDING", c->stream, campaigns::kGroup, entries.front().id,
                         entries.back().id, count, c->name);
  const redis::Reply counts = co_await s->shards.command(c->shard, std::move(pending));
  std::vector<std::pair<std::string, std::int64_t>> delivered;
  for (const redis::Reply& row : counts.as_array()) {
    const auto& r = row.as_array();
    if (r.size() >= 4) {
      delivered.emplace_back(r[0].as_string(), r[3].as_integer());
    }
  }
  std::vector<Entry> keep;
  for (Entry& e : entries) {
    std::int64_t n = 0;
    for (const auto& [id, times] : delivered) {
      if (id == e.id) {
        n = times;
      }
    }
    if (n > static_cast<std::int64_t>(s->settings.max_deliveries)) {
      const bool well_formed = c->sink->well_formed(e);
      if (well_formed) {
        // The last chance, alone: what failed with its batch (or while the
        // database was down) may go through now.
        std::vector<Entry> one;
        one.push_back(e);
        if (co_await persist_and_ack(s, c, one)) {
          continue;
        }
      }
      std::string reason = "delivered too many times";
      co_await dead_letter(s, c, std::move(e), std::move(reason), n, well_formed);
    } else {
      keep.push_back(std::move(e));
    }
  }
  co_return keep;
}

// Entries one XREADGROUP asks for, in batches: see read_ahead.
constexpr std::size_t kBatchesPerRead = 4;

// The next entries; the XACK of the batches committed since the last read
// goes first in the same write. On a shard with `appendfsync always` every
// write command waits for an fsync on the disk the database commits to;
// Redis fsyncs once per event-loop round, so the pair costs one fsync (a
// separate XACK per batch doubled the shard's fsyncs and slowed every
// commit beside them). A failed XACK is harmless: its entries stay pending
// and are claimed and re-persisted (ON CONFLICT DO NOTHING) later.
asio::awaitable<std::vector<Entry>> read_new(SharedPtr s, std::shared_ptr<Consumer> c) {
  const auto count = static_cast<std::int64_t>(s->settings.batch_size * kBatchesPerRead);
  redis::Command read("XREADGROUP", "GROUP", campaigns::kGroup, c->name, "COUNT", count, "STREAMS",
                      c->stream, ">");
  if (c->to_ack.empty()) {
    const redis::Reply reply = co_await s->shards.command(c->shard, std::move(read));
    co_return campaigns::parse_read(reply);
  }
  std::vector<std::string> args{"XACK", c->stream, std::string(campaigns::kGroup)};
  args.insert(args.end(), std::make_move_iterator(c->to_ack.begin()),
              std::make_move_iterator(c->to_ack.end()));
  c->to_ack.clear();
  std::vector<redis::Command> commands;
  commands.emplace_back(args);
  commands.push_back(std::move(read));
  const std::vector<redis::Reply> replies =
      co_await s->shards.pipeline(c->shard, std::move(commands));
  if (replies.at(0).is_error()) {
    c->metrics->errors.add();
    log::warn("worker: ack failed (entries stay pending)",
              {{"stream", c->stream}, {"shard", c->shard}, {"error", replies[0].error_line()}});
  }
  replies.at(1).throw_if_error();
  co_return campaigns::parse_read(replies[1]);
}

// The acks no read took along (the consumer is stopping).
asio::awaitable<void> flush_acks(SharedPtr s, std::shared_ptr<Consumer> c) {
  std::vector<std::string> ids = std::move(c->to_ack);
  c->to_ack.clear();
  try {
    co_await ack(s, c, std::move(ids));
  } catch (const std::exception& e) {
    c->metrics->errors.add();
    log::warn("worker: ack failed (entries stay pending)",
              {{"stream", c->stream}, {"shard", c->shard}, {"error", e.what()}});
  }
}

// Deletes the group's consumers that stopped workers left behind (names
// carry the pid, so every restart adds a set): idle past ARGV[2] ms with
// nothing pending, and not this process's. In one script, because between
// a separate XINFO and XGROUP DELCONSUMER a consumer could read entries,
// and deleting a consumer drops its pending entries from the group.
// KEYS: stream. ARGV: group, idle bound ms, this process's name prefix.
const redis::Script kRemoveStaleConsumers(R"lua(
local removed = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['pending'] == 0 and f['idle'] > tonumber(ARGV[2])
     and string.sub(f['name'], 1, #ARGV[3]) ~= ARGV[3] then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    removed = removed + 1
  end
end
return removed
)lua");

asio::awaitable<void> remove_stale_consumers(SharedPtr s, std::shared_ptr<Consumer> c) {
  // A live consumer polls at least every 8 × poll_interval; one idle for
  // two claim rounds is gone (if not, its next read simply recreates it).
  const auto bound = static_cast<std::int64_t>(2 * s->settings.claim_idle.count());
  redis::Args keys(c->stream);
  redis::Args args(std::string(campaigns::kGroup), bound, c->owner);
  const redis::Reply reply = co_await s->shards.eval(c->shard, kRemoveStaleConsumers, keys, args);
  if (reply.is_integer() && reply.as_integer() > 0) {
    log::info("worker: removed stale consumers",
              {{"stream", c->stream}, {"shard", c->shard}, {"count", reply.as_integer()}});
  }
}

// Queue gauges and the trim: never past the oldest unacknowledged entry.
asio::awaitable<void> maintain(SharedPtr s, std::shared_ptr<Consumer> c) {
  const campaigns::QueueSample sample =
      co_await campaigns::sample_queue(s->shards, c->shard, c->stream);
  s->gauges->set(c->stream_index, c->shard, sample);
  const std::string& keep_from =
      sample.oldest_pending.empty() ? sample.last_delivered : sample.oldest_pending;
  if (!keep_from.empty() && keep_from != "0-0") {
    // Removes entries with ids < keep_from: all delivered and acknowledged.
    co_await s->shards.command(c->shard, {"XTRIM", c->stream, "MINID", keep_from});
  }
}

// ===========================================================================
// Persisting
// ===========================================================================

// Persists the entries (one transaction), then queues their ack (it leaves
// with the reader's next XREADGROUP). Returns false when the batch failed
// and the entries stay pending. By reference: a failed batch is retried
// entry by entry, and copying every batch for that rare case cost the drain
// measurably.
asio::awaitable<bool> persist_and_ack(SharedPtr /*s*/, std::shared_ptr<Consumer> c,
                                      const std::vector<Entry>& batch) {
  const std::size_t n = batch.size();
  try {
    co_await c->sink->persist(batch);
  } catch (const std::exception& e) {
    c->metrics->errors.add();
    log::warn("worker: batch not persisted",
              {{"stream", c->stream}, {"shard", c->shard}, {"entries", n}, {"error", e.what()}});
    co_return false;
  }
  for (const Entry& e : batch) {
    c->to_ack.push_back(e.id);  // acked with the next read (read_new)
  }
  c->metrics->batches.add();
  c->metrics->persisted.add(n);
  co_return true;
}

asio::awaitable<void> handle(SharedPtr s, std::shared_ptr<Consumer> c, std::vector<Entry> entries) {
  std::vector<Entry> good;
  good.reserve(entries.size());
  for (Entry& e : entries) {
    if (c->sink->well_formed(e)) {
      good.push_back(std::move(e));
    } else {
      std::string reason = "malformed entry";
      co_await dead_letter(s, c, std::move(e), std::move(reason), 1, false);
    }
  }
  if (good.empty()) {
    co_return;
  }
  if (co_await persist_and_ack(s, c, good) || good.size() == 1) {
    co_return;
  }
  // One bad entry must not hold up the others: one by one.
  for (Entry& e : good) {
    if (s->stopping.load()) {
      co_return;  // still pending: claimed back later
    }
    std::vector<Entry> one;
    one.push_back(std::move(e));
    co_await persist_and_ack(s, c, one);
  }
}

// ===========================================================================
// The consumer: a reader and a persister
// ===========================================================================
//
//   read_ahead ──(channel, one batch)──▶ consume ── persist, XACK ──▶ ...
//
// The reader fetches the next batch while the current one is persisted and
// hands it over through a one-batch channel: when a transaction commits,
// the next batch is already here, and the database connection goes from one
// commit straight to the next INSERT (with one fetch per batch in between,
// the connection idled for the XREADGROUP, which waits for the shard's AOF
// fsync). One XREADGROUP takes kBatchesPerRead batches at once (every write
// command on the shard waits for an fsync on the disk the database commits
// to: fewer, larger reads leave that disk to the commits), handed over one
// batch at a time. Up to kBatchesPerRead + 1 batches are read ahead; they
// are pending in the group,
// so a crash loses none of them (claimed later) and a graceful stop
// persists them (the persister takes batches until the reader closes the
// channel). While the stream is idle or unreachable the reader sends empty
// batches after each pause: ticks, on which the persister runs its claim
// rounds (a receive raced against a timer could drop a batch it had already
// taken when the timer won).

using Batches = asio::experimental::channel<void(boost::system::error_code, std::vector<Entry>)>;

// One read's entries as batches of at most `size` (an empty read: one empty
// batch, the tick).
std::vector<std::vector<Entry>> split_into_batches(std::vector<Entry> entries, std::size_t size) {
  std::vector<std::vector<Entry>> out;
  if (entries.size() <= size) {
    out.push_back(std::move(entries));
    return out;
  }
  for (std::size_t i = 0; i < entries.size(); i += size) {
    const std::size_t end = std::min(entries.size(), i + size);
    out.emplace_back(std::make_move_iterator(entries.begin() + static_cast<std::ptrdiff_t>(i)),
                     std::make_move_iterator(entries.begin() + static_cast<std::ptrdiff_t>(end)));
  }
  return out;
}

asio::awaitable<void> read_ahead(SharedPtr s, std::shared_ptr<Consumer> c,
                                 std::shared_ptr<Batches> out) {
  int idle_factor = 1;
  bool grouped = true;  // consume() created the group before starting us
  while (!s->stopping.load()) {
    std::vector<Entry> entries;
    bool failed = false;
    try {
      if (!grouped) {
        grouped = co_await ensure_group(s, c);
      }
      if (grouped) {
        entries = co_await read_new(s, c);
      }
    } catch (const redis::ServerError& e) {
      failed = true;
      if (e.prefix() == "NOGROUP") {
        grouped = false;  // the stream was deleted (shard lost its data): recreate
      }
      log::warn("worker: redis error", {{"stream", c->stream}, {"error", e.what()}});
    } catch (const std::exception& e) {
      failed = true;
      log::warn("worker: read failed",
                {{"stream", c->stream}, {"shard", c->shard}, {"error", e.what()}});
    }
    if (failed || !grouped) {
      // Await expressions are not allowed in handlers: back off here.
      c->metrics->errors.add();
      co_await sleep_for(std::chrono::milliseconds(200));
    } else if (entries.empty()) {
      // Idle: poll_interval, doubling up to 8x while the stream stays
      // empty (an idle worker should not cost the shards 50 reads/s each).
      co_await sleep_for(s->settings.poll_interval * idle_factor);
      idle_factor = std::min(idle_factor * 2, 8);
    } else {
      idle_factor = 1;
    }
    // What was read, one batch at a time; or an empty batch: a tick.
    bool closed = false;
    for (std::vector<Entry>& batch :
         split_into_batches(std::move(entries), s->settings.batch_size)) {
      auto [ec] = co_await out->async_send(boost::system::error_code{}, std::move(batch),
                                           asio::as_tuple(asio::use_awaitable));
      if (ec) {
        closed = true;
        break;
      }
    }
    if (closed) {
      break;
    }
  }
  out->close();
}

asio::awaitable<void> consume(SharedPtr s, std::shared_ptr<Consumer> c) {
  while (!co_await ensure_group(s, c)) {
    if (s->stopping.load()) {
      co_return;
    }
    co_await sleep_for(std::chrono::milliseconds(200));
  }
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto batches = std::make_shared<Batches>(executor, kBatchesPerRead);
  asio::co_spawn(executor, read_ahead(s, c, batches), asio::detached);

  const std::chrono::milliseconds claim_every =
      std::max(s->settings.claim_idle / 2, std::chrono::milliseconds(100));
  auto next_claim = std::chrono::steady_clock::now();
  // Until the reader closes the channel: after stop() it sends what it had
  // read and closes, and all of it is persisted here first.
  while (true) {
    auto [ec, entries] = co_await batches->async_receive(asio::as_tuple(asio::use_awaitable));
    if (ec) {  // closed by the reader
      break;
    }
    bool failed = false;
    try {
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_claim && !s->stopping.load()) {
        next_claim = now + claim_every;
        if (c->index == 0) {
          co_await maintain(s, c);
          co_await remove_stale_consumers(s, c);
        }
        std::vector<Entry> claimed = co_await claim(s, c);
        if (!claimed.empty()) {
          co_await handle(s, c, std::move(claimed));
        }
      }
      if (!entries.empty()) {
        co_await handle(s, c, std::move(entries));
      }
    } catch (const std::exception& e) {
      failed = true;
      log::warn("worker: consumer error",
                {{"stream", c->stream}, {"shard", c->shard}, {"error", e.what()}});
    }
    if (failed) {
      // Await expressions are not allowed in handlers: back off here.
      c->metrics->errors.add();
      co_await sleep_for(std::chrono::milliseconds(200));
    }
  }
  // The reader has exited: the acks of the last batches go now.
  co_await flush_acks(s, c);
}

asio::awaitable<void> run_consumer(SharedPtr s, std::shared_ptr<Consumer> c) {
  try {
    co_await consume(s, c);
  } catch (...) {
    log::error("worker: consumer ended by an exception", {{"stream", c->stream}});
  }
  {
    std::lock_guard lock(s->mutex);
    s->running.fetch_sub(1);
  }
  s->exited.notify_all();
}

std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0) {
    return "worker";
  }
  return {buf.data()};
}

}  // namespace

// ===========================================================================
// Pool
// ===========================================================================

Pool::Pool(Settings settings, redis::Shards& shards, const std::vector<Sink*>& sinks,
           std::vector<asio::io_context*> io_per_thread, metrics::Registry& registry)
    : shared_(std::make_shared<Shared>(settings, shards)) {
  if (io_per_thread.empty() || settings.consumers == 0 || settings.batch_size == 0) {
    throw std::invalid_argument("worker::Pool: needs io_contexts, consumers and a batch size");
  }
  const std::string prefix = fmt::format("{}:{}", host_name(), ::getpid());
  std::vector<std::string_view> streams;
  streams.reserve(sinks.size());
  for (const Sink* sink : sinks) {
    streams.push_back(sink->stream());
  }
  shared_->gauges =
      std::make_unique<campaigns::QueueGauges>(registry, streams, shards.shard_count());
  std::size_t n = 0;
  for (Sink* sink : sinks) {
    const std::string stream(sink->stream());
    auto& m = *shared_->stream_metrics.emplace_back(std::make_unique<StreamMetrics>());
    const metrics::Labels labels{{"stream", stream}};
    m.persisted = registry.counter("surge_queue_persisted_total",
                                   "Queue entries persisted and acknowledged.", labels);
    m.batches =
        registry.counter("surge_queue_batches_total", "Committed consumer batches.", labels);
    m.dead_letters = registry.counter("surge_queue_dead_letters_total",
                                      "Queue entries moved to the dead-letter stream.", labels);
    m.claimed = registry.counter("surge_queue_claimed_total",
                                 "Idle queue entries taken over with XAUTOCLAIM.", labels);
    m.errors = registry.counter("surge_queue_errors_total",
                                "Failed consumer batches and queue errors.", labels);
    for (std::size_t shard = 0; shard < shards.shard_count(); ++shard) {
      for (std::size_t i = 0; i < settings.consumers; ++i) {
        auto c = std::make_shared<Consumer>();
        c->sink = sink;
        c->shard = shard;
        c->index = i;
        c->stream = stream;
        c->dead = campaigns::dead_letter_stream(stream);
        c->name = fmt::format("{}:{}:{}:{}", prefix, stream, shard, i);
        c->owner = fmt::format("{}:", prefix);
        c->stream_index = shared_->stream_metrics.size() - 1;
        c->metrics = &m;
        c->io = io_per_thread[n++ % io_per_thread.size()];
        shared_->consumers.push_back(std::move(c));
      }
    }
  }
}

Pool::~Pool() {
  stop();
}

void Pool::start() {
  for (const auto& c : shared_->consumers) {
    shared_->running.fetch_add(1);
    asio::co_spawn(*c->io, run_consumer(shared_, c), asio::detached);
  }
}

void Pool::stop() {
  shared_->stopping.store(true);
}

bool Pool::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(shared_->mutex);
  return shared_->exited.wait_for(lock, timeout, [this] { return shared_->running.load() == 0; });
}

std::size_t Pool::running() const {
  return shared_->running.load();
}

Pool::Stats Pool::stats() const {
  Stats out;
  out.consumers = shared_->consumers.size();
  out.running = shared_->running.load();
  out.depth = shared_->gauges->total_depth();
  out.oldest_pending_age_ms = shared_->gauges->max_oldest_pending_age_ms();
  return out;
}

}  // namespace surge::worker
