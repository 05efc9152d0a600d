#include "ops/routes.hpp"

#include "http/context.hpp"

namespace surge::ops {

void add_routes(http::Router& router, metrics::Registry& registry) {
  router.add({http::Method::kGet, "/metrics", http::Auth::kNone,
              http::SyncHandler([&registry](http::Context& ctx) {
                ctx.response.status = http::Status::kOk;
                ctx.response.content_type = "text/plain; version=0.0.4; charset=utf-8";
                ctx.response.body = registry.render();
              })});
}

}  // namespace surge::ops
