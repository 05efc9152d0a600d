#include "log/log.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace surge::log {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

const system_clock::time_point kTs = sys_days{2026y / 11 / 25} + 8h + 123456us;

TEST(LogFormat, LineShape) {
  EXPECT_EQ(format_line(kTs, Level::kInfo, "server started", {{"port", 8080}, {"threads", 2}}),
            R"({"ts":"2026-11-25T08:00:00.123456Z","level":"info","msg":"server started",)"
            R"("port":8080,"threads":2})");
  EXPECT_EQ(format_line(sys_days{1999y / 1 / 2} + 23h + 59min + 58s + 7us, Level::kError, "x"),
            R"({"ts":"1999-01-02T23:59:58.000007Z","level":"error","msg":"x"})");
}

TEST(LogFormat, ValueTypes) {
  const std::string owned = "text";
  const unsigned short port = 443;
  const std::size_t size = 5;
  EXPECT_EQ(format_line(kTs, Level::kDebug, "m",
                        {{"s", owned},
                         {"sv", std::string_view("v")},
                         {"neg", -3},
                         {"i64", std::numeric_limits<std::int64_t>::min()},
                         {"u64", std::numeric_limits<std::uint64_t>::max()},
                         {"port", port},
                         {"size", size},
                         {"d", 1.5},
                         {"nan", std::nan("")},
                         {"inf", std::numeric_limits<double>::infinity()},
                         {"yes", true},
                         {"no", false}}),
            R"({"ts":"2026-11-25T08:00:00.123456Z","level":"debug","msg":"m","s":"text",)"
            R"("sv":"v","neg":-3,"i64":-9223372036854775808,"u64":18446744073709551615,)"
            R"("port":443,"size":5,"d":1.5,"nan":null,"inf":null,"yes":true,"no":false})");
}

std::string msg_of(std::string_view msg) {
  const std::string line = format_line(kTs, Level::kWarn, msg);
  const std::string prefix = R"({"ts":"2026-11-25T08:00:00.123456Z","level":"warn","msg":)";
  EXPECT_EQ(line.rfind(prefix, 0), 0U) << line;
  EXPECT_EQ(line.back(), '}');
  return line.substr(prefix.size(), line.size() - prefix.size() - 1);
}

TEST(LogFormat, JsonEscaping) {
  EXPECT_EQ(msg_of(R"(say "hi" \ bye)"), R"("say \"hi\" \\ bye")");
  EXPECT_EQ(msg_of("a\nb\rc\td"), R"("a\nb\rc\td")");
  EXPECT_EQ(msg_of(std::string_view("\x00\x01\x1f\x7f", 4)), R"("\u0000\u0001\u001f)"
                                                             "\x7f\"");
  EXPECT_EQ(msg_of("\b\f"), R"("\u0008\u000c")");
  // Keys are escaped the same way.
  EXPECT_EQ(format_line(kTs, Level::kInfo, "m", {{"k\"\n", "v"}}),
            R"({"ts":"2026-11-25T08:00:00.123456Z","level":"info","msg":"m","k\"\n":"v"})");
}

TEST(LogFormat, Utf8PassesThroughAndGarbageIsReplaced) {
  EXPECT_EQ(msg_of("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(msg_of("a\xff"
                   "b"),
            R"("a\ufffdb")");
  EXPECT_EQ(msg_of("\xc3"), R"("\ufffd")");                                // truncated
  EXPECT_EQ(msg_of("\xc0\xaf"), R"("\ufffd\ufffd")");                      // overlong '/'
  EXPECT_EQ(msg_of("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");            // surrogate
  EXPECT_EQ(msg_of("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
}

TEST(LogLevel, ParseAndNames) {
  for (const Level level :
       {Level::kTrace, Level::kDebug, Level::kInfo, Level::kWarn, Level::kError, Level::kOff}) {
    EXPECT_EQ(parse_level(level_name(level)), level);
  }
  EXPECT_THROW(parse_level("warning"), std::invalid_argument);
  EXPECT_THROW(init("verbose"), std::invalid_argument);
}

// The process logger is global: restore the default level whatever happens.
class LogLevelFilter : public ::testing::Test {
 protected:
  void TearDown() override { init("info"); }
};

TEST_F(LogLevelFilter, EnabledFollowsInit) {
  init("warn");
  EXPECT_FALSE(enabled(Level::kDebug));
  EXPECT_FALSE(enabled(Level::kInfo));
  EXPECT_TRUE(enabled(Level::kWarn));
  EXPECT_TRUE(enabled(Level::kError));
  EXPECT_FALSE(enabled(Level::kOff));
  init("off");
  EXPECT_FALSE(enabled(Level::kError));
  init("trace");
  EXPECT_TRUE(enabled(Level::kTrace));
}

TEST_F(LogLevelFilter, DisabledLinesAreNotWritten) {
  init("warn");
  ::testing::internal::CaptureStderr();
  info("hidden", {{"n", 1}});
  warn("shown", {{"n", 2}});
  const std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.find("hidden"), std::string::npos) << out;
  ASSERT_NE(out.find(R"("level":"warn","msg":"shown","n":2})"), std::string::npos) << out;
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1);  // exactly one line
}

}  // namespace
}  // namespace surge::log
