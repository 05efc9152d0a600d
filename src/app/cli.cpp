#include "app/cli.hpp"

#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "app/config.hpp"
#include "app/migrate.hpp"
#include "app/serve.hpp"
#include "app/worker.hpp"
#include "catalog/publish.hpp"
#include "log/log.hpp"
#include "users/commands.hpp"
#include "users/token.hpp"

namespace surge::app {
namespace {

// Keep in step with project(VERSION) in CMakeLists.txt.
constexpr const char* kVersion = "surge 0.1.0";

// Usage and configuration mistakes share one code, so scripts can tell "you
// called me wrong" from "I failed while running".
constexpr int kUsageError = 2;

// A subcommand: its CLI11 node, its --config option and what it runs once
// the configuration is loaded.
struct Command {
  CLI::App* app;
  CLI::Option* config;
  std::function<int(const Config&)> run;
};

// Adds a subcommand with the --config option every subcommand has. The
// returned node takes further options of its own (seed --users N, ...).
// Each --config keeps its own result (no shared variable): CLI11 fills the
// SURGE_CONFIG fallback of every subcommand's option, and a shared target
// let the environment overwrite the file named on the command line.
Command& add_command(CLI::App& root, std::vector<Command>& commands, const std::string& name,
                     const std::string& description, std::function<int(const Config&)> run) {
  CLI::App* sub = root.add_subcommand(name, description);
  CLI::Option* config =
      sub->add_option("--config",
                      "TOML configuration file; settings it leaves out keep their defaults")
          ->type_name("FILE")
          ->envname("SURGE_CONFIG");
  return commands.emplace_back(Command{sub, config, std::move(run)});
}

int print_config(const Config& config) {
  fmt::print("{}", describe(config));
  return 0;
}

// `surge token --users A-B [--ttl SECONDS]`: one "user_id token" line each,
// signed with auth.token_secret (which is never printed).
int print_tokens(const Config& config, const std::string& users, std::optional<long long> ttl) {
  if (config.auth.token_secret.empty()) {
    throw ConfigError("auth.token_secret: required by `surge token` (SURGE_AUTH_TOKEN_SECRET)");
  }
  const auto range = users::parse_user_range(users);
  if (!range) {
    throw ConfigError(fmt::format(
        "--users: expected A-B with 1 <= A <= B <= 9223372036854775807, got '{}'", users));
  }
  const long long seconds = ttl.value_or(config.auth.token_ttl.count());
  const users::TokenSigner signer(config.auth.token_secret);
  users::print_tokens(signer, *range, users::system_unix_now() + seconds, stdout);
  return 0;
}

// `surge seed --users N`: demo users user1..userN (password surge-demo) and
// a few products; see users/commands.hpp.
int seed(const Config& config, std::uint64_t users) {
  if (config.database.primary.empty()) {
    throw ConfigError("database.primary: required by `surge seed` (a libpq URI)");
  }
  users::SeedOptions options;
  options.database_uri = config.database.primary;
  options.users = users;
  const users::SeedReport report = users::seed(options, stderr);
  fmt::print(
      "seeded {} users ({} new, password hashed once in {} ms) and {} products ({} new) in {} ms; "
      "registration draws ids from {}\n",
      users, report.users_inserted, report.hash_time.count(), options.products,
      report.products_inserted, report.total_time.count(), report.next_user_id);
  return 0;
}

// `surge publish`: the static catalog into publish.dir (catalog/publish.hpp).
int publish(const Config& config) {
  if (config.database.primary.empty()) {
    throw ConfigError("database.primary: required by `surge publish` (a libpq URI)");
  }
  catalog::PublishOptions options;
  options.database_uri = config.database.primary;
  options.dir = config.publish.dir;
  options.retention = config.publish.retention;
  const catalog::PublishReport report = catalog::publish(options);
  fmt::print("published catalog {} ({}) and campaigns {} ({}) into {}; removed {} old files\n",
             report.manifest.catalog_version, report.catalog_written ? "new" : "unchanged",
             report.manifest.campaigns_version, report.campaigns_written ? "new" : "unchanged",
             options.dir.string(), report.removed);
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App root{"Surge: high-concurrency commerce backend", "surge"};
  root.set_version_flag("--version", kVersion);
  root.require_subcommand(0, 1);  // none is reported below, with the help text
  root.footer(
      "Settings: defaults < --config FILE < SURGE_<SECTION>_<KEY> environment variables\n"
      "(e.g. SURGE_SERVER_PORT=9000). `surge config` prints the effective result.");

  std::vector<Command> commands;
  // Reserved so the references add_command returns stay valid while adding.
  commands.reserve(8);
  add_command(root, commands, "serve", "Run the HTTP API server", serve);
  add_command(root, commands, "worker",
              "Run the queue consumers persisting campaign grabs and orders", worker);
  add_command(root, commands, "migrate", "Apply pending database migrations (idempotent)", migrate);
  add_command(root, commands, "config", "Print the effective configuration as TOML and exit",
              print_config);

  std::string token_users;
  std::optional<long long> token_ttl;
  Command& token = add_command(
      root, commands, "token",
      "Print user tokens signed with auth.token_secret: one 'user_id token' line per user",
      [&token_users, &token_ttl](const Config& config) {
        return print_tokens(config, token_users, token_ttl);
      });
  token.app->add_option("--users", token_users, "Users to mint tokens for: A-B (or one id A)")
      ->type_name("A-B")
      ->required();
  token.app->add_option("--ttl", token_ttl, "Token lifetime in seconds (default auth.token_ttl)")
      ->type_name("SECONDS")
      ->check(CLI::Range(1LL, 100LL * 365 * 86400));

  add_command(root, commands, "publish",
              "Write the catalog and active campaigns as versioned static JSON plus "
              "manifest.json into publish.dir",
              publish);

  std::uint64_t seed_users = 0;
  Command& seed_command =
      add_command(root, commands, "seed",
                  "Insert demo users user1..userN (id K, password surge-demo) and a few products; "
                  "idempotent",
                  [&seed_users](const Config& config) { return seed(config, seed_users); });
  seed_command.app->add_option("--users", seed_users, "How many demo users (N)")
      ->type_name("N")
      ->required()
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{100'000'000}));

  try {
    root.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // exit() prints help/version to stdout, errors to stderr.
    return root.exit(e) == 0 ? 0 : kUsageError;
  }

  for (const Command& command : commands) {
    if (!command.app->parsed()) {
      continue;
    }
    try {
      // count() and not an empty value: `--config ""` (an unset shell
      // variable) must be an error, not a silent run on defaults.
      std::optional<std::filesystem::path> file;
      if (command.config->count() > 0) {
        file = command.config->as<std::string>();
      }
      const Config config = load_config(file);
      log::init(config.log.level);
      return command.run(config);
    } catch (const ConfigError& e) {
      fmt::print(stderr, "surge: configuration error: {}\n", e.what());
      return kUsageError;
    } catch (const std::exception& e) {
      fmt::print(stderr, "surge: {}\n", e.what());
      return 1;
    }
  }

  fmt::print(stderr, "surge: a subcommand is required\n\n{}", root.help());
  return kUsageError;
}

}  // namespace surge::app
