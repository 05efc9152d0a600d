#include "redpackets/persist.hpp"

#include <utility>

#include "pg/params.hpp"

namespace surge::redpackets {

namespace {

constexpr const char* kInsert = R"sql(
INSERT INTO redpacket_grabs (redpacket_id, user_id, amount_cents, grabbed_at)
SELECT g.rp, g.u, g.a, to_timestamp(g.t / 1000.0)
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS g(rp, u, a, t)
ON CONFLICT (redpacket_id, user_id) DO NOTHING
)sql";

}  // namespace

std::string_view GrabSink::stream() const {
  return campaigns::kRedpacketStream;
}

bool GrabSink::well_formed(const campaigns::Entry& e) const {
  const auto rp = e.get_int("rp");
  const auto user = e.get_int("user");
  const auto amount = e.get_int("amount");
  const auto at = e.get_int("at");
  return rp && *rp > 0 && user && *user > 0 && amount && *amount > 0 && at && *at > 0;
}

boost::asio::awaitable<void> GrabSink::persist(const std::vector<campaigns::Entry>& entries) {
  std::vector<std::int64_t> rp;
  std::vector<std::int64_t> user;
  std::vector<std::int64_t> amount;
  std::vector<std::int64_t> at;
  for (const auto& e : entries) {
    rp.push_back(*e.get_int("rp"));
    user.push_back(*e.get_int("user"));
    amount.push_back(*e.get_int("amount"));
    at.push_back(*e.get_int("at"));
  }
  pg::Params args = pg::params(pg::array(rp), pg::array(user), pg::array(amount), pg::array(at));
  co_await db_.write(kInsert, std::move(args));
}

}  // namespace surge::redpackets
