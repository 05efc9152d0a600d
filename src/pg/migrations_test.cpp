#include "pg/migrations.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "pg/migrate.hpp"

namespace surge::pg {
namespace {

namespace fs = std::filesystem;

// migrations/ of the source tree: $SURGE_SOURCE_DIR/migrations, else found
// from this file's path (CTest runs tests in the build directory).
fs::path migrations_dir() {
  if (const char* root = std::getenv("SURGE_SOURCE_DIR"); root != nullptr && *root != '\0') {
    return fs::path(root) / "migrations";
  }
  return fs::path(__FILE__).parent_path().parent_path().parent_path() / "migrations";
}

std::map<std::string, std::string> files_on_disk() {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::directory_iterator(migrations_dir())) {
    if (entry.path().extension() != ".sql") {
      continue;
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    out.emplace(entry.path().stem().string(), ss.str());
  }
  return out;
}

std::string label(const Migration& m) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d_", m.version);
  return std::string(buf) + std::string(m.name);
}

TEST(PgMigrationsTest, EmbeddedCopyMatchesMigrationsFolder) {
  ASSERT_TRUE(fs::is_directory(migrations_dir())) << migrations_dir();
  const auto files = files_on_disk();
  ASSERT_FALSE(files.empty());
  std::map<std::string, std::string_view> embedded;
  for (const Migration& m : embedded_migrations()) {
    embedded.emplace(label(m), m.sql);
  }
  for (const auto& [name, text] : files) {
    const auto it = embedded.find(name);
    ASSERT_NE(it, embedded.end()) << "migrations/" << name << ".sql is not embedded: rebuild";
    EXPECT_EQ(it->second, text) << "migrations/" << name
                                << ".sql differs from the embedded copy: rebuild";
  }
  for (const auto& [name, text] : embedded) {
    EXPECT_TRUE(files.contains(name))
        << name << " is embedded but migrations/" << name << ".sql is gone: rebuild";
  }
}

TEST(PgMigrationsTest, VersionsStrictlyIncreaseFromOne) {
  const auto all = embedded_migrations();
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.front().version, 1);
  for (std::size_t i = 1; i < all.size(); ++i) {
    EXPECT_EQ(all[i].version, all[i - 1].version + 1) << label(all[i]);
  }
}

TEST(PgMigrationsTest, MigrationsDoNotManageTheirOwnTransaction) {
  for (const Migration& m : embedded_migrations()) {
    // The statements, upper-cased, without -- comments.
    std::string upper = "\n";
    bool comment = false;
    for (std::size_t i = 0; i < m.sql.size(); ++i) {
      const char c = m.sql[i];
      if (!comment && c == '-' && i + 1 < m.sql.size() && m.sql[i + 1] == '-') {
        comment = true;
      } else if (c == '\n') {
        comment = false;
      }
      if (!comment) {
        upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
    }
    EXPECT_EQ(upper.find("\nBEGIN;"), std::string::npos) << label(m);
    EXPECT_EQ(upper.find("\nCOMMIT;"), std::string::npos) << label(m);
    EXPECT_EQ(upper.find("CONCURRENTLY"), std::string::npos) << label(m);
  }
}

TEST(PgMigrationsTest, ChecksumIsHexSha256) {
  EXPECT_EQ(checksum(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(checksum("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace surge::pg
