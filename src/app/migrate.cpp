#include "app/migrate.hpp"

#include <fmt/format.h>

#include "pg/migrate.hpp"

namespace surge::app {

int migrate(const Config& config) {
  if (config.database.primary.empty()) {
    throw ConfigError("database.primary: required by `surge migrate` (a libpq URI)");
  }
  const pg::MigrateReport report = pg::migrate(config.database.primary);
  for (const auto& name : report.applied) {
    fmt::print("applied {}\n", name);
  }
  fmt::print("schema at version {}{}\n", report.version,
             report.applied.empty() ? " (up to date)" : "");
  return 0;
}

}  // namespace surge::app
