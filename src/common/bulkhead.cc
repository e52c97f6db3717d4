#include "common/bulkhead.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sluice {

namespace asio = boost::asio;

BulkheadCore::Decision BulkheadCore::TryAcquire(uint64_t ticket) {
  if (in_flight_ < limit_ && queue_.empty()) {
    ++in_flight_;
    return Decision::kGranted;
  }
  if (queue_.size() >= max_queue_) return Decision::kQueueFull;
  queue_.push_back(ticket);
  return Decision::kQueued;
}

std::vector<uint64_t> BulkheadCore::Release() {
  if (in_flight_ > 0) --in_flight_;
  return Dispatch();
}

bool BulkheadCore::Abandon(uint64_t ticket) {
  auto it = std::find(queue_.begin(), queue_.end(), ticket);
  if (it == queue_.end()) return false;
  queue_.erase(it);
  return true;
}

std::vector<uint64_t> BulkheadCore::SetLimit(size_t limit) {
  limit_ = limit;
  return Dispatch();
}

std::vector<uint64_t> BulkheadCore::Dispatch() {
  std::vector<uint64_t> granted;
  while (in_flight_ < limit_ && !queue_.empty()) {
    granted.push_back(queue_.front());
    queue_.pop_front();
    ++in_flight_;
  }
  return granted;
}

// A queued caller sleeps on a timer of its own executor; a grant cancels
// the timer from whichever thread released the slot.
struct Bulkhead::Waiter {
  explicit Waiter(asio::any_io_executor ex) : executor(ex), timer(ex) {}
  asio::any_io_executor executor;
  asio::steady_timer timer;
  bool granted = false;  // GUARDED_BY(mu_)
};

Permit& Permit::operator=(Permit&& o) noexcept {
  if (this != &o) {
    Release();
    b_ = std::exchange(o.b_, nullptr);
    refusal_ = o.refusal_;
  }
  return *this;
}

void Permit::Release() {
  if (b_) std::exchange(b_, nullptr)->Release();
}

asio::awaitable<Permit> Bulkhead::Acquire() {
  auto ex = co_await asio::this_coro::executor;
  std::shared_ptr<Waiter> w;
  uint64_t ticket;
  std::chrono::milliseconds wait;
  {
    std::lock_guard lock(mu_);
    ticket = next_ticket_++;
    switch (core_.TryAcquire(ticket)) {
      case BulkheadCore::Decision::kGranted: co_return Permit(this);
      case BulkheadCore::Decision::kQueueFull: co_return Permit(Permit::Refusal::kQueueFull);
      case BulkheadCore::Decision::kQueued: break;
    }
    w = std::make_shared<Waiter>(ex);
    waiters_[ticket] = w;
    wait = wait_;
  }
  w->timer.expires_after(wait);
  boost::system::error_code ec;
  co_await w->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  std::lock_guard lock(mu_);
  waiters_.erase(ticket);
  if (w->granted) co_return Permit(this);
  core_.Abandon(ticket);
  co_return Permit(Permit::Refusal::kTimedOut);
}

void Bulkhead::Wake(const std::vector<uint64_t>& granted) {
  for (uint64_t t : granted) {
    auto it = waiters_.find(t);
    if (it == waiters_.end()) continue;
    it->second->granted = true;
    asio::post(it->second->executor, [w = it->second] { w->timer.cancel(); });
  }
}

void Bulkhead::Release() {
  std::lock_guard lock(mu_);
  Wake(core_.Release());
}

void Bulkhead::SetLimit(size_t limit) {
  std::lock_guard lock(mu_);
  Wake(core_.SetLimit(limit));
}

Bulkhead::Snapshot Bulkhead::snapshot() {
  std::lock_guard lock(mu_);
  return {core_.in_flight(), core_.queued(), core_.limit()};
}

}  // namespace sluice
