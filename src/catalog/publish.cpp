#include "catalog/publish.hpp"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <utility>

#include <fmt/format.h>
#include <libpq-fe.h>

namespace surge::catalog {

namespace {

namespace fs = std::filesystem;

// ===========================================================================
// Files
// ===========================================================================

[[noreturn]] void fail(std::string_view what, const fs::path& path, int err) {
  throw std::runtime_error(fmt::format("publish: {} {}: {}", what, path.string(),
                                       std::error_code(err, std::generic_category()).message()));
}

class Fd {
 public:
  explicit Fd(int fd) noexcept : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&&) = delete;
  Fd& operator=(Fd&&) = delete;
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

void fsync_dir(const fs::path& dir) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg): POSIX open(2)
  const Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) {
    fail("opening folder", dir, errno);
  }
  if (::fsync(fd.get()) != 0) {
    fail("fsync of folder", dir, errno);
  }
}

// Unique among concurrent publishers (pid) and calls of one process (n).
fs::path temp_path(const fs::path& dir, std::string_view name) {
  static std::atomic<unsigned> counter{0};
  return dir / fmt::format(".{}.tmp.{}.{}", name, ::getpid(), counter.fetch_add(1));
}

// temp + write + fsync + rename (see publish.hpp).
void write_atomically(const fs::path& dir, std::string_view name, std::string_view bytes) {
  const fs::path temp = temp_path(dir, name);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg): POSIX open(2)
  Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) {
    fail("creating", temp, errno);
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      const int err = errno;
      ::unlink(temp.c_str());
      fail("writing", temp, err);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || ::close(fd.release()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    fail("fsync of", temp, err);
  }
  const fs::path target = dir / name;
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    fail("renaming into", target, err);
  }
}

// A versioned file: written once, never touched while current (its name
// is its content, so its bytes, mtime and the load balancer's ETag stay put
// however often the same content is published).
bool place_versioned(const fs::path& dir, const std::string& name, std::string_view bytes) {
  const fs::path target = dir / name;
  struct stat st {};
  if (::stat(target.c_str(), &st) == 0) {
    return false;
  }
  if (errno != ENOENT) {
    fail("checking", target, errno);
  }
  write_atomically(dir, name, bytes);
  return true;
}

// The manifest on disk: nullopt when there is none (a first publish) or it
// is not ours.
std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return std::move(bytes).str();
}

// A file the previous manifest named and the new one does not was current
// until now: its mtime becomes the moment it was superseded, from which
// the retention counts.
void mark_superseded(const fs::path& dir, const std::string& name, const Manifest& current) {
  if (name == catalog_file_name(current.catalog_version) ||
      name == campaigns_file_name(current.campaigns_version)) {
    return;
  }
  const fs::path target = dir / name;
  if (::utimensat(AT_FDCWD, target.c_str(), nullptr, 0) != 0 && errno != ENOENT) {
    fail("touching", target, errno);
  }
}

std::size_t remove_superseded(const fs::path& dir, const Manifest& current,
                              std::chrono::seconds retention) {
  const std::string keep_catalog = catalog_file_name(current.catalog_version);
  const std::string keep_campaigns = campaigns_file_name(current.campaigns_version);
  const auto now = fs::file_time_type::clock::now();
  std::size_t removed = 0;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!is_versioned_file_name(name) || name == keep_catalog || name == keep_campaigns) {
      continue;
    }
    std::error_code stat_ec;
    const auto written = entry.last_write_time(stat_ec);
    if (stat_ec || now - written < retention) {
      continue;
    }
    if (fs::remove(entry.path(), stat_ec)) {
      ++removed;
    }
  }
  return removed;
}

// ===========================================================================
// Database (blocking libpq)
// ===========================================================================

struct ConnCloser {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct ResultCloser {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnCloser>;
using ResultPtr = std::unique_ptr<PGresult, ResultCloser>;

ResultPtr exec(PGconn* c, const char* sql, std::string_view step) {
  ResultPtr r(PQexec(c, sql));
  const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const char* msg = r ? PQresultErrorMessage(r.get()) : PQerrorMessage(c);
    throw std::runtime_error(fmt::format("publish: {}: {}", step, msg));
  }
  return r;
}

std::string single_text(PGconn* c, const char* sql, std::string_view step) {
  const ResultPtr r = exec(c, sql, step);
  if (PQntuples(r.get()) != 1 || PQnfields(r.get()) != 1 || PQgetisnull(r.get(), 0, 0) != 0) {
    throw std::runtime_error(fmt::format("publish: {}: expected one value", step));
  }
  return {PQgetvalue(r.get(), 0, 0), static_cast<std::size_t>(PQgetlength(r.get(), 0, 0))};
}

void quiet_notices(void* /*arg*/, const char* /*message*/) {}

}  // namespace

PublishReport publish_documents(const fs::path& dir, std::string_view catalog,
                                std::string_view campaigns, std::chrono::seconds retention) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    fail("creating folder", dir, ec.value());
  }
  PublishReport report;
  report.manifest.catalog_version = content_version(catalog);
  report.manifest.campaigns_version = content_version(campaigns);
  report.catalog_written =
      place_versioned(dir, catalog_file_name(report.manifest.catalog_version), catalog);
  report.campaigns_written =
      place_versioned(dir, campaigns_file_name(report.manifest.campaigns_version), campaigns);
  fsync_dir(dir);  // the files' names are durable before a manifest names them
  const std::string manifest = render_manifest(report.manifest);
  const std::optional<std::string> previous = read_file(dir / "manifest.json");
  if (previous != manifest) {
    write_atomically(dir, "manifest.json", manifest);
    fsync_dir(dir);
    report.manifest_written = true;
    if (const auto old = previous ? parse_manifest(*previous) : std::nullopt) {
      mark_superseded(dir, catalog_file_name(old->catalog_version), report.manifest);
      mark_superseded(dir, campaigns_file_name(old->campaigns_version), report.manifest);
    }
  }
  report.removed = remove_superseded(dir, report.manifest, retention);
  return report;
}

PublishReport publish(const PublishOptions& options) {
  ConnPtr c(PQconnectdb(options.database_uri.c_str()));
  if (!c || PQstatus(c.get()) != CONNECTION_OK) {
    throw std::runtime_error(fmt::format("publish: cannot connect to the database: {}",
                                         c ? PQerrorMessage(c.get()) : "out of memory"));
  }
  PQsetNoticeProcessor(c.get(), &quiet_notices, nullptr);
  // Publishers take turns (several app servers publish after admin writes,
  // the worker on its timer): the session lock is held until the manifest
  // is renamed and released when the connection closes, so each manifest
  // comes from a snapshot at least as new as the one it replaces. Advisory
  // locks work on a hot standby too (the CLI may read a replica).
  exec(c.get(), "SELECT pg_advisory_lock(hashtext('surge:publish'))",
       "waiting for other publishers");
  // One snapshot for both documents.
  exec(c.get(), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "BEGIN");
  const std::string catalog = single_text(c.get(), kCatalogSql, "reading the catalog");
  const std::string campaigns = single_text(c.get(), kCampaignsSql, "reading the campaigns");
  exec(c.get(), "COMMIT", "COMMIT");
  return publish_documents(options.dir, catalog, campaigns, options.retention);
}

}  // namespace surge::catalog
