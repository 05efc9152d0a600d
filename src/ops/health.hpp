#pragma once

// Liveness and readiness (API.md §7).
//
//   GET /healthz  200 while the process runs
//   GET /readyz   200 when it can serve, 503 (with Retry-After) otherwise
//
// Both bodies name each dependency and its state:
//   {"status":"ready","dependencies":[
//     {"name":"database.primary","state":"up","required":true,...},
//     {"name":"database.replica-0","state":"lagging","lag_ms":3100,...},
//     {"name":"cache.shard-0","state":"up",...}, {"name":"queue","state":"up"}]}
//
// A dependency is "required" when the process cannot serve without it (the
// primary). Others degrade service but not readiness: a dead cache shard means
// slower reads from the database, a dead replica means reads from the primary
// (DESIGN.md principle 4).
//
// /healthz is hot (load balancers and the HTTP benchmark hit it), so its body
// is rendered by a timer and served from a snapshot; /readyz renders fresh.
//
// Thread safety: the probes run on the refresh thread and in readyz handlers,
// so they MUST be thread-safe (pg::Cluster and redis::Shards state getters are).

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include "http/router.hpp"

namespace surge::ops {

struct DependencyState {
  std::string name;   // "database.primary", "cache.shard-1", "queue"
  std::string state;  // "up", "down", "lagging", "open_circuit", "degraded"
  bool required = false;
  bool serving = true;          // false: this dependency cannot be used now
  boost::json::object details;  // address, lag_ms, error, ...
};

using Probe = std::function<std::vector<DependencyState>()>;

class Health {
 public:
  explicit Health(std::vector<Probe> probes);
  ~Health();  // NOLINT(bugprone-exception-escape): see health.cpp
  Health(const Health&) = delete;
  Health& operator=(const Health&) = delete;

  // Refreshes the /healthz snapshot every `period` on `io` until stop().
  // `io` MUST outlive this object (the timer lives on it).
  void start(boost::asio::io_context& io, std::chrono::milliseconds period);
  // Idempotent; call it while `io` still exists.
  void stop();

  struct Report {
    bool ready = true;
    std::string body;
  };
  // Runs every probe now.
  Report check() const;
  // The last snapshot (never null).
  std::shared_ptr<const std::string> healthz_body() const;

  void add_routes(http::Router& router);

 private:
  void refresh();
  void schedule();

  std::vector<Probe> probes_;
  std::atomic<std::shared_ptr<const std::string>> healthz_;
  std::unique_ptr<boost::asio::steady_timer> timer_;
  std::chrono::milliseconds period_{500};
  std::atomic<bool> stopped_{false};
};

}  // namespace surge::ops
