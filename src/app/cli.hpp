#pragma once

// Command line of the surge binary:
//
//   surge [--help] [--version] <subcommand> [--config FILE] [options]
//
// Every subcommand takes --config FILE (or SURGE_CONFIG from the environment)
// and builds its Config the same way: defaults < file < SURGE_<SECTION>_<KEY>
// variables (see app/config.hpp). Subcommands: serve, config.

namespace surge::app {

// Parses argv, runs the chosen subcommand and returns the process exit code:
// the subcommand's own code; 0 for --help / --version; 2 for a usage error, a
// missing subcommand (help goes to stderr) or a configuration error (printed
// as "surge: configuration error: <message>"); 1 for any other exception.
int run_cli(int argc, char** argv);

}  // namespace surge::app
