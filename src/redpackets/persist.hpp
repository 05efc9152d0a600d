#pragma once

// The red packet stream's sink (worker/consumer.hpp): a batch of grab
// entries becomes ONE statement (its own transaction)
//   INSERT INTO redpacket_grabs ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING
// The primary key (redpacket_id, user_id) makes a redelivered entry harmless.
//
// Entry: rp <id> user <id> amount <cents> at <unix ms> (hot.hpp).
// Thread safety: persist() from any Cluster I/O thread, concurrently.

#include "pg/cluster.hpp"
#include "worker/consumer.hpp"

namespace surge::redpackets {

class GrabSink : public worker::Sink {
 public:
  explicit GrabSink(pg::Cluster& db) : db_(db) {}
  std::string_view stream() const override;
  bool well_formed(const campaigns::Entry& entry) const override;
  boost::asio::awaitable<void> persist(const std::vector<campaigns::Entry>& entries) override;

 private:
  pg::Cluster& db_;
};

}  // namespace surge::redpackets
