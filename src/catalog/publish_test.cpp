// The file half of `surge publish` (publish_documents) on a temporary
// folder: names, contents, idempotence, retention. The database half runs
// in the black-box tests (tests/catalog/test_publish.py).

#include "catalog/publish.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace surge::catalog {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::set<std::string> names(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    out.insert(e.path().filename().string());
  }
  return out;
}

class PublishFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() /
        ("surge-publish-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(PublishFiles, WritesVersionedFilesThenTheManifest) {
  const PublishReport r = publish_documents(dir_ / "static", "CAT", "CAMP", 600s);
  EXPECT_TRUE(r.catalog_written);
  EXPECT_TRUE(r.campaigns_written);
  EXPECT_EQ(r.manifest.catalog_version, content_version("CAT"));
  EXPECT_EQ(r.manifest.campaigns_version, content_version("CAMP"));
  const fs::path d = dir_ / "static";
  EXPECT_EQ(names(d),
            (std::set<std::string>{"manifest.json", catalog_file_name(r.manifest.catalog_version),
                                   campaigns_file_name(r.manifest.campaigns_version)}));
  EXPECT_EQ(read(d / catalog_file_name(r.manifest.catalog_version)), "CAT");
  EXPECT_EQ(read(d / campaigns_file_name(r.manifest.campaigns_version)), "CAMP");
  EXPECT_EQ(parse_manifest(read(d / "manifest.json")), r.manifest);
}

TEST_F(PublishFiles, SameContentIsNotRewritten) {
  const PublishReport first = publish_documents(dir_, "CAT", "CAMP", 600s);
  EXPECT_TRUE(first.manifest_written);
  // Every file's mtime set back: a publish that rewrote or touched anything
  // would move it (and with it the ETag nginx derives from mtime and size).
  const auto past = fs::file_time_type::clock::now() - 1h;
  std::map<std::string, fs::file_time_type> before;
  for (const auto& e : fs::directory_iterator(dir_)) {
    fs::last_write_time(e.path(), past);
    before[e.path().filename().string()] = past;
  }
  const PublishReport again = publish_documents(dir_, "CAT", "CAMP", 600s);
  EXPECT_FALSE(again.catalog_written);
  EXPECT_FALSE(again.campaigns_written);
  EXPECT_FALSE(again.manifest_written);
  std::map<std::string, fs::file_time_type> after;
  for (const auto& e : fs::directory_iterator(dir_)) {
    after[e.path().filename().string()] = fs::last_write_time(e.path());
  }
  EXPECT_EQ(after, before);
}

TEST_F(PublishFiles, SupersededFilesStayForTheRetention) {
  const PublishReport first = publish_documents(dir_, "CAT1", "CAMP", 600s);
  const PublishReport second = publish_documents(dir_, "CAT2", "CAMP", 600s);
  EXPECT_EQ(second.removed, 0U);
  EXPECT_TRUE(fs::exists(dir_ / catalog_file_name(first.manifest.catalog_version)));
  // Age the superseded file past the retention: the next publish removes it,
  // never the current ones nor foreign files.
  const fs::path old = dir_ / catalog_file_name(first.manifest.catalog_version);
  fs::last_write_time(old, fs::file_time_type::clock::now() - 2h);
  std::ofstream(dir_ / "notes.txt") << "keep";
  const PublishReport third = publish_documents(dir_, "CAT2", "CAMP", 600s);
  EXPECT_EQ(third.removed, 1U);
  EXPECT_FALSE(fs::exists(old));
  EXPECT_TRUE(fs::exists(dir_ / "notes.txt"));
  EXPECT_TRUE(fs::exists(dir_ / catalog_file_name(second.manifest.catalog_version)));
}

TEST_F(PublishFiles, ACurrentFileIsNeverRemovedAndRetentionCountsFromItsSupersession) {
  const PublishReport r = publish_documents(dir_, "CAT", "CAMP", 600s);
  const fs::path current = dir_ / catalog_file_name(r.manifest.catalog_version);
  fs::last_write_time(current, fs::file_time_type::clock::now() - 2h);
  EXPECT_EQ(publish_documents(dir_, "CAT", "CAMP", 600s).removed, 0U);  // current: kept
  EXPECT_TRUE(fs::exists(current));
  publish_documents(dir_, "CAT-next", "CAMP", 600s);
  EXPECT_TRUE(fs::exists(current));  // superseded just now: kept for the retention
  EXPECT_GT(fs::last_write_time(current), fs::file_time_type::clock::now() - 1min);
}

TEST_F(PublishFiles, UnwritableFolderIsAnError) {
  std::ofstream(dir_.string() + ".file") << "x";
  EXPECT_THROW(publish_documents(fs::path(dir_.string() + ".file") / "sub", "C", "D", 1s),
               std::runtime_error);
  fs::remove(dir_.string() + ".file");
}

}  // namespace
}  // namespace surge::catalog
