#pragma once

// The migrations compiled into the binary: migrations/NNNN_name.sql, each
// embedded verbatim by a source file the build generates from the folder
// (src/pg/embed_migrations.sh, run by CMakeLists.txt; migrations_test.cpp
// checks the embedded copy against the files).
//
// Thread safety: immutable static data.

#include <span>
#include <string_view>

namespace surge::pg {

struct Migration {
  int version;            // NNNN, strictly increasing
  std::string_view name;  // the file name's part after NNNN_
  std::string_view sql;   // the file's bytes
};

std::span<const Migration> embedded_migrations() noexcept;

}  // namespace surge::pg
