#pragma once

#include "http/middleware.hpp"

namespace surge::http {

// One JSON line per request at info level:
//   {"ts":…,"level":"info","msg":"request","method":"GET","path":"/healthz",
//    "status":200,"duration_us":41,"request_id":"…","bytes":15}
// Switched off by server.access_log = false (benchmarks, very hot nodes).
// The query string is not logged: it may carry what users typed.
class AccessLogMiddleware final : public Middleware {
 public:
  void after(Context& ctx) noexcept override;
};

}  // namespace surge::http
