#include "ops/routes.hpp"

#include "http/context.hpp"

namespace surge::ops {

namespace {

// 200 while the process runs: liveness only, so it touches nothing shared
// (it is also the route the HTTP benchmark measures).
void healthz(http::Context& ctx) {
  ctx.response.json(http::Status::kOk, R"({"status":"ok"})");
}

}  // namespace

void add_routes(http::Router& router, metrics::Registry& registry) {
  router.add({http::Method::kGet, "/healthz", http::Auth::kNone, http::SyncHandler(healthz)});
  router.add({http::Method::kGet, "/metrics", http::Auth::kNone,
              http::SyncHandler([&registry](http::Context& ctx) {
                ctx.response.status = http::Status::kOk;
                ctx.response.content_type = "text/plain; version=0.0.4; charset=utf-8";
                ctx.response.body = registry.render();
              })});
}

}  // namespace surge::ops
