#pragma once

// SingleFlight<T>: N concurrent calls for one key → one load.
//
//   caller A (thread 1) ── run("k", load) ──► leader: co_await load() ──┐
//   caller B (thread 2) ── run("k", …) ──► waiter (handler stored) ◄────┤ post(B's executor)
//   caller C (thread 1) ── run("k", …) ──► waiter (handler stored) ◄────┘ post(C's executor)
//
// The first caller of a key becomes the leader and runs `load` inline, on its
// own executor. Callers that arrive while the load is in flight (from any
// thread or io_context) suspend: their completion handlers are stored,
// type-erased, in the flight; when the load finishes the leader posts each one
// to that waiter's associated executor, so every waiter resumes on its own
// thread. All get a copy of the same value or the same exception. Nothing
// polls; no thread blocks beyond the short mutex around the flight map.
//
// Contract:
// - Thread safety: run() and forget() may be called concurrently from any
//   thread. T MUST be copy-constructible (each waiter gets a copy: use a
//   shared_ptr for large values) and nothrow-move-assignable.
// - `load` is called at most once per flight, by the leader, and awaited
//   inside run(): whatever it captures lives as long as run()'s frame. It
//   MUST NOT call run() for the same key (that would wait for itself).
// - Errors: an exception from `load` is rethrown to the leader and every
//   waiter: one shared exception object, so handlers MUST NOT modify it.
//   (Under TSan, a what() on one thread followed by the last release on
//   another is reported: libstdc++'s atomic exception refcount is not
//   instrumented. A false positive; the tests hold a reference on the test
//   thread.) The flight is forgotten once it completes: the next call loads
//   again (failures are not cached).
// - Cancellation: a waiter whose cancellation slot fires (terminal
//   cancellation; the type-erased handler filters out the other types)
//   leaves the flight at once with system_error(operation_aborted); the load
//   goes on for the others. Cancelling the LEADER cancels the load itself, and every waiter
//   gets that error: the load runs inline in the leader's coroutine (no spawn
//   per miss, no detached work to track at shutdown); callers that must not
//   share a leader's fate retry on operation_aborted.
// - forget(key) detaches the key's flight: calls from then on start a new
//   load, while the callers already waiting still get the old one's result.
//   Used after an invalidation, so that a read following a write never joins
//   a load that started before it.
// - Lifetime: the SingleFlight and the executors of all callers MUST outlive
//   every run() in flight. If the leader's frame is destroyed mid-load (its
//   io_context destroyed), the waiters are completed with operation_aborted.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

#include "metrics/registry.hpp"

namespace surge::cache {

template <class T>
class SingleFlight {
  static_assert(std::is_copy_constructible_v<T>, "each waiter gets a copy of the value");
  static_assert(std::is_nothrow_move_assignable_v<T>, "completion stores the value noexcept");

 public:
  using Load = std::function<boost::asio::awaitable<T>()>;

  // joins counts the calls that joined a flight instead of loading.
  explicit SingleFlight(metrics::Counter joins = {}) : joins_(joins) {}
  SingleFlight(const SingleFlight&) = delete;
  SingleFlight& operator=(const SingleFlight&) = delete;
  SingleFlight(SingleFlight&&) = delete;
  SingleFlight& operator=(SingleFlight&&) = delete;
  ~SingleFlight() = default;

  // Returns the result of the key's flight, starting one with `load` if none
  // is in flight. See the contract above.
  boost::asio::awaitable<T> run(std::string key, Load load);

  // Detaches the key's flight, if any (see above). Never blocks on a load.
  void forget(std::string_view key);

  // Keys with a flight in progress (not counting forgotten ones).
  std::size_t in_flight() const;

 private:
  using Handler = boost::asio::any_completion_handler<void(std::exception_ptr)>;

  // Never move-assigned: Boost 1.81's any_completion_handler move assignment
  // recurses forever (it forwards an lvalue to its converting constructor),
  // hence std::list for the waiters, whose erase moves nothing.
  struct Waiter {
    std::uint64_t id = 0;
    // Where the waiter resumes. Tracks outstanding work, as an asynchronous
    // operation must: an io_context whose only pending work is waiters would
    // otherwise run out of work and return from run().
    boost::asio::any_io_executor executor;
    Handler handler;
  };

  // Guarded by SingleFlight::mu_, except `value` and `error`: written once
  // under the mutex before `done`, read only after observing `done` (under the
  // mutex, or through the post that resumes a waiter).
  struct Flight {
    std::list<Waiter> waiters;
    bool done = false;
    std::exception_ptr error;
    std::optional<T> value;
  };

  // Transparent hashing: forget(string_view) allocates nothing.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  struct KeyEq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
  };

  class CancelWaiter;
  class LeaderGuard;
  struct WaitInitiation;

  // Suspends until the flight completes; rethrows its error.
  boost::asio::awaitable<void> wait(std::shared_ptr<Flight> flight);

  // Records the outcome, detaches the flight and resumes every waiter.
  void complete(std::string_view key, const std::shared_ptr<Flight>& flight, std::optional<T> value,
                std::exception_ptr error) noexcept;

  static void post_completion(Waiter waiter, std::exception_ptr error) noexcept;
  static std::exception_ptr aborted() noexcept;

  mutable std::mutex mu_;
  boost::unordered_flat_map<std::string, std::shared_ptr<Flight>, KeyHash, KeyEq> flights_;
  std::uint64_t next_waiter_id_ = 0;  // guarded by mu_
  metrics::Counter joins_;
};

// ===========================================================================
// Implementation.
// ===========================================================================

// Installed in a waiter's cancellation slot: takes the waiter out of the
// flight and completes it with operation_aborted. Runs on the waiter's own
// thread (whoever emits the signal); races with the leader's completion are
// settled under the mutex: whoever removes the waiter completes it.
template <class T>
class SingleFlight<T>::CancelWaiter {
 public:
  CancelWaiter(SingleFlight* self, std::weak_ptr<Flight> flight, std::uint64_t id)
      : self_(self), flight_(std::move(flight)), id_(id) {}

  void operator()(boost::asio::cancellation_type type) {
    using boost::asio::cancellation_type;
    if ((type & (cancellation_type::terminal | cancellation_type::partial |
                 cancellation_type::total)) == cancellation_type::none) {
      return;
    }
    const std::shared_ptr<Flight> flight = flight_.lock();
    if (!flight) {
      return;
    }
    std::optional<Waiter> waiter;
    {
      const std::lock_guard lock(self_->mu_);
      auto& waiters = flight->waiters;
      for (auto it = waiters.begin(); it != waiters.end(); ++it) {
        if (it->id == id_) {
          waiter.emplace(std::move(*it));
          waiters.erase(it);
          break;
        }
      }
    }
    if (waiter) {
      post_completion(std::move(*waiter), aborted());
    }
  }

 private:
  SingleFlight* self_;
  std::weak_ptr<Flight> flight_;
  std::uint64_t id_;
};

template <class T>
struct SingleFlight<T>::WaitInitiation {
  template <class CompletionHandler>
  void operator()(CompletionHandler&& handler, SingleFlight* self,
                  std::shared_ptr<Flight> flight) const {
    boost::asio::any_io_executor executor =
        boost::asio::prefer(boost::asio::get_associated_executor(handler),
                            // Asio's documented spelling of the property.
                            // NOLINTNEXTLINE(readability-static-accessed-through-instance)
                            boost::asio::execution::outstanding_work.tracked);
    // Type-erase first: any_completion_handler attaches its own cancellation
    // state to the handler's slot (replacing whatever was installed there),
    // so the waiter's cancel hook goes into the erased handler's slot. That
    // slot lives in the erased handler's heap block, which moves with it.
    Handler erased(std::forward<CompletionHandler>(handler));
    std::unique_lock lock(self->mu_);
    if (flight->done) {
      // Completed between our lookup and this suspension.
      std::exception_ptr error = flight->error;
      lock.unlock();
      post_completion(Waiter{0, std::move(executor), std::move(erased)}, std::move(error));
      return;
    }
    const std::uint64_t id = ++self->next_waiter_id_;
    auto slot = boost::asio::get_associated_cancellation_slot(erased);
    if (slot.is_connected()) {
      slot.template emplace<CancelWaiter>(self, flight, id);
    }
    flight->waiters.emplace_back(Waiter{id, std::move(executor), std::move(erased)});
  }
};

// Lives in the leader's frame: if the frame is destroyed before the load
// finished (its io_context torn down), the waiters must still be resumed.
template <class T>
class SingleFlight<T>::LeaderGuard {
 public:
  LeaderGuard(SingleFlight& self, const std::string& key, const std::shared_ptr<Flight>& flight)
      : self_(self), key_(key), flight_(flight) {}
  LeaderGuard(const LeaderGuard&) = delete;
  LeaderGuard& operator=(const LeaderGuard&) = delete;
  LeaderGuard(LeaderGuard&&) = delete;
  LeaderGuard& operator=(LeaderGuard&&) = delete;
  ~LeaderGuard() {
    if (armed_) {
      self_.complete(key_, flight_, std::nullopt, aborted());
    }
  }
  void disarm() noexcept { armed_ = false; }

 private:
  SingleFlight& self_;
  const std::string& key_;
  const std::shared_ptr<Flight>& flight_;
  bool armed_ = true;
};

template <class T>
boost::asio::awaitable<T> SingleFlight<T>::run(std::string key, Load load) {
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    const std::lock_guard lock(mu_);
    auto [it, inserted] = flights_.try_emplace(key);
    if (inserted) {
      it->second = std::make_shared<Flight>();
      leader = true;
    }
    flight = it->second;
  }

  if (!leader) {
    joins_.add();
    co_await wait(flight);
    // Written before `done`; our resumption was posted after it.
    co_return *flight->value;
  }

  LeaderGuard guard(*this, key, flight);
  std::optional<T> value;
  std::exception_ptr error;
  try {
    value.emplace(co_await load());
  } catch (...) {
    error = std::current_exception();
  }
  guard.disarm();
  if (error) {
    complete(key, flight, std::nullopt, error);
    std::rethrow_exception(error);
  }
  complete(key, flight, value, nullptr);
  co_return std::move(*value);
}

template <class T>
boost::asio::awaitable<void> SingleFlight<T>::wait(std::shared_ptr<Flight> flight) {
  co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                       void(std::exception_ptr)>(
      WaitInitiation{}, boost::asio::use_awaitable, this, std::move(flight));
}

template <class T>
void SingleFlight<T>::complete(std::string_view key, const std::shared_ptr<Flight>& flight,
                               std::optional<T> value, std::exception_ptr error) noexcept {
  std::list<Waiter> waiters;
  {
    const std::lock_guard lock(mu_);
    flight->value = std::move(value);
    flight->error = error;
    flight->done = true;
    waiters.swap(flight->waiters);
    // Only our own flight: after forget() the key may name a newer one.
    const auto it = flights_.find(key);
    if (it != flights_.end() && it->second == flight) {
      flights_.erase(it);
    }
  }
  for (Waiter& w : waiters) {
    post_completion(std::move(w), error);
  }
}

template <class T>
void SingleFlight<T>::post_completion(Waiter waiter, std::exception_ptr error) noexcept {
  try {
    // The waiter's executor, captured before type erasure: Boost 1.81's
    // any_completion_executor cannot be required to be non-blocking, which
    // post() needs.
    boost::asio::post(waiter.executor,
                      [handler = std::move(waiter.handler), error = std::move(error)]() mutable {
                        std::move(handler)(std::move(error));
                      });
  } catch (...) {
    // post() allocates; on bad_alloc the handler is destroyed, which destroys
    // the suspended coroutine instead of resuming it. Nothing better exists.
  }
}

template <class T>
std::exception_ptr SingleFlight<T>::aborted() noexcept {
  return std::make_exception_ptr(
      boost::system::system_error(boost::asio::error::operation_aborted));
}

template <class T>
void SingleFlight<T>::forget(std::string_view key) {
  const std::lock_guard lock(mu_);
  const auto it = flights_.find(key);
  if (it != flights_.end()) {
    flights_.erase(it);
  }
}

template <class T>
std::size_t SingleFlight<T>::in_flight() const {
  const std::lock_guard lock(mu_);
  return flights_.size();
}

}  // namespace surge::cache
