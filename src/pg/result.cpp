#include "pg/result.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>
#include <libpq-fe.h>

namespace surge::pg {

Result Result::copy_from(const pg_result* res) {
  Result r;
  if (res == nullptr) {
    return r;
  }
  const int nrows = PQntuples(res);
  const int ncols = PQnfields(res);
  r.rows_ = static_cast<std::size_t>(nrows);
  r.names_.reserve(static_cast<std::size_t>(ncols));
  for (int c = 0; c < ncols; ++c) {
    r.names_.emplace_back(PQfname(res, c));
  }
  std::size_t total = 0;
  for (int i = 0; i < nrows; ++i) {
    for (int c = 0; c < ncols; ++c) {
      total += static_cast<std::size_t>(PQgetlength(res, i, c));
    }
  }
  if (total > 0xFFFFFFFFULL) {
    throw std::length_error("pg: result larger than 4 GiB");
  }
  r.data_.reserve(total);
  r.cells_.resize(static_cast<std::size_t>(nrows) * static_cast<std::size_t>(ncols));
  std::size_t k = 0;
  for (int i = 0; i < nrows; ++i) {
    for (int c = 0; c < ncols; ++c, ++k) {
      if (PQgetisnull(res, i, c) != 0) {
        continue;  // Cell default: NULL
      }
      const int len = PQgetlength(res, i, c);
      r.cells_[k].offset = static_cast<std::uint32_t>(r.data_.size());
      r.cells_[k].length = len;
      r.data_.append(PQgetvalue(res, i, c), static_cast<std::size_t>(len));
    }
  }
  // PQcmdStatus / PQcmdTuples take a non-const PGresult* but do not modify it.
  auto* mut =
      const_cast<PGresult*>(res);  // NOLINT(cppcoreguidelines-pro-type-const-cast): libpq API
  r.command_ = PQcmdStatus(mut);
  const char* tuples = PQcmdTuples(mut);
  if (tuples != nullptr && *tuples != '\0') {
    std::uint64_t n = 0;
    const std::string_view s(tuples);
    std::from_chars(s.data(), s.data() + s.size(), n);
    r.affected_ = n;
  }
  return r;
}

std::size_t Result::column(std::string_view name) const {
  for (std::size_t c = 0; c < names_.size(); ++c) {
    if (names_[c] == name) {
      return c;
    }
  }
  throw std::out_of_range(fmt::format("pg: no column named '{}' in the result", name));
}

const Result::Cell& Result::cell(std::size_t row, std::size_t col) const {
  if (row >= rows_ || col >= names_.size()) {
    throw std::out_of_range(
        fmt::format("pg: cell ({}, {}) outside a {}x{} result", row, col, rows_, names_.size()));
  }
  return cells_[row * names_.size() + col];
}

void Result::throw_null(std::size_t row, std::size_t col) const {
  throw std::invalid_argument(fmt::format(
      "pg: column '{}' of row {} is NULL (read it as std::optional)", names_[col], row));
}

std::int64_t parse_int64(std::string_view text) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw std::invalid_argument(fmt::format("pg: not a 64-bit integer: '{}'", text));
  }
  return v;
}

std::uint64_t parse_uint64(std::string_view text) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw std::invalid_argument(fmt::format("pg: not an unsigned 64-bit integer: '{}'", text));
  }
  return v;
}

double parse_double(std::string_view text) {
  if (text == "NaN") {
    return std::nan("");
  }
  if (text == "Infinity") {
    return HUGE_VAL;
  }
  if (text == "-Infinity") {
    return -HUGE_VAL;
  }
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw std::invalid_argument(fmt::format("pg: not a number: '{}'", text));
  }
  return v;
}

bool parse_bool(std::string_view text) {
  if (text == "t") {
    return true;
  }
  if (text == "f") {
    return false;
  }
  throw std::invalid_argument(fmt::format("pg: not a boolean: '{}'", text));
}

}  // namespace surge::pg
