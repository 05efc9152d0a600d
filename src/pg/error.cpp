#include "pg/error.hpp"

#include <utility>

namespace surge::pg {

Error::Error(std::string sqlstate, const std::string& message, bool connection_lost,
             std::string constraint)
    : std::runtime_error(message),
      sqlstate_(std::move(sqlstate)),
      constraint_(std::move(constraint)),
      class_(sqlstate_.empty() ? (connection_lost ? Class::kConnection : Class::kOther)
                               : classify(sqlstate_)) {}

Error::Error(Class cls, std::string sqlstate, const std::string& message)
    : std::runtime_error(message), sqlstate_(std::move(sqlstate)), class_(cls) {}

Error::Class classify(std::string_view s) noexcept {
  using C = Error::Class;
  if (s.size() != 5) {
    return C::kOther;
  }
  if (s == "23505") {
    return C::kUniqueViolation;
  }
  if (s == "23503") {
    return C::kForeignKeyViolation;
  }
  if (s == "23514") {
    return C::kCheckViolation;
  }
  if (s == "40001" || s == "40P01") {
    return C::kSerialization;
  }
  if (s == "57014") {
    return C::kQueryCanceled;
  }
  // admin_shutdown, crash_shutdown, cannot_connect_now: the server is going
  // away or not up yet; for the caller that is a lost connection.
  if (s == "57P01" || s == "57P02" || s == "57P03") {
    return C::kConnection;
  }
  if (s == "25006") {
    return C::kReadOnly;
  }
  if (s == "42P01") {
    return C::kUndefinedTable;
  }
  const std::string_view cls = s.substr(0, 2);
  if (cls == "23") {
    return C::kIntegrity;
  }
  if (cls == "08") {
    return C::kConnection;
  }
  return C::kOther;
}

std::string_view class_name(Error::Class cls) noexcept {
  switch (cls) {
    case Error::Class::kUniqueViolation:
      return "unique_violation";
    case Error::Class::kForeignKeyViolation:
      return "foreign_key_violation";
    case Error::Class::kCheckViolation:
      return "check_violation";
    case Error::Class::kIntegrity:
      return "integrity";
    case Error::Class::kSerialization:
      return "serialization";
    case Error::Class::kConnection:
      return "connection";
    case Error::Class::kQueryCanceled:
      return "query_canceled";
    case Error::Class::kReadOnly:
      return "read_only";
    case Error::Class::kUndefinedTable:
      return "undefined_table";
    case Error::Class::kOther:
      return "other";
  }
  return "other";
}

}  // namespace surge::pg
