#pragma once

#include "app/config.hpp"

namespace surge::app {

// `surge migrate`: applies the pending schema migrations to database.primary
// (each in its own transaction; running it again changes nothing). Prints one
// line per applied migration, or that the schema is up to date.
int migrate(const Config& config);

}  // namespace surge::app
