#include "campaigns/stream.hpp"

#include <gtest/gtest.h>

#include "redis/error.hpp"

namespace surge::campaigns {
namespace {

using redis::Reply;

Reply entry(std::string id, std::vector<std::string> kv) {
  Reply::Array fields;
  for (auto& s : kv) {
    fields.push_back(Reply::string(std::move(s)));
  }
  Reply::Array pair;
  pair.push_back(Reply::string(std::move(id)));
  pair.push_back(Reply::array(std::move(fields)));
  return Reply::array(std::move(pair));
}

TEST(CampaignStream, ParsesEntriesAndSkipsDeletedOnes) {
  Reply::Array list;
  list.push_back(entry("1-0", {"rp", "7", "user", "42", "amount", "5", "at", "1000"}));
  list.push_back(Reply::nil());
  list.push_back(entry("2-3", {"rp", "x"}));
  const auto entries = parse_entries(Reply::array(std::move(list)));
  ASSERT_EQ(entries.size(), 2U);
  EXPECT_EQ(entries[0].id, "1-0");
  EXPECT_EQ(entries[0].get_int("user"), 42);
  EXPECT_EQ(entries[0].get("amount"), std::optional<std::string_view>("5"));
  EXPECT_FALSE(entries[0].get("ref").has_value());
  EXPECT_FALSE(entries[1].get_int("rp").has_value());
  EXPECT_EQ(id_ms(entries[1].id), 2);
}

TEST(CampaignStream, ParsesXreadgroup) {
  EXPECT_TRUE(parse_read(Reply::nil()).empty());
  Reply::Array entries;
  entries.push_back(entry("5-0", {"fs", "1"}));
  Reply::Array stream;
  stream.push_back(Reply::string("fs:stream"));
  stream.push_back(Reply::array(std::move(entries)));
  Reply::Array reply;
  reply.push_back(Reply::array(std::move(stream)));
  const auto read = parse_read(Reply::array(std::move(reply)));
  ASSERT_EQ(read.size(), 1U);
  EXPECT_EQ(read[0].get_int("fs"), 1);
  EXPECT_THROW(parse_entries(Reply::integer(3)), redis::Error);
}

TEST(CampaignStream, Names) {
  EXPECT_EQ(dead_letter_stream(kRedpacketStream), "rp:stream:dead");
  EXPECT_FALSE(parse_int("").has_value());
  EXPECT_FALSE(parse_int("12a").has_value());
  EXPECT_EQ(parse_int("-12"), -12);
}

}  // namespace
}  // namespace surge::campaigns
