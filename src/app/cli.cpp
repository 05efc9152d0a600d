#include "app/cli.hpp"

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
#include "log/log.hpp"

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

// Adds a subcommand with the --config option every subcommand shares. The
// returned node takes further options of its own (seed --users N, ...).
Command& add_command(CLI::App& root, std::vector<Command>& commands, std::string& config_file,
                     const std::string& name, const std::string& description,
                     std::function<int(const Config&)> run) {
  CLI::App* sub = root.add_subcommand(name, description);
  CLI::Option* config =
      sub->add_option("--config", config_file,
                      "TOML configuration file; settings it leaves out keep their defaults")
          ->type_name("FILE")
          ->envname("SURGE_CONFIG");
  return commands.emplace_back(Command{sub, config, std::move(run)});
}

int print_config(const Config& config) {
  fmt::print("{}", describe(config));
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

  std::string config_file;
  std::vector<Command> commands;
  // Reserved so the references add_command returns stay valid while adding.
  commands.reserve(8);
  add_command(root, commands, config_file, "serve", "Run the HTTP API server", serve);
  add_command(root, commands, config_file, "migrate",
              "Apply pending database migrations (idempotent)", migrate);
  add_command(root, commands, config_file, "config",
              "Print the effective configuration as TOML and exit", print_config);

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
      // count() and not config_file.empty(): `--config ""` (an unset shell
      // variable) must be an error, not a silent run on defaults.
      std::optional<std::filesystem::path> file;
      if (command.config->count() > 0) {
        file = config_file;
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
