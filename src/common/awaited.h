// One answer handed from another thread to a coroutine that waits for it
// with a deadline: how a forest's lookup thread or the fleet's Redis thread
// answers a session. The waiter's timer lives in the waiter's frame; the
// answering thread touches it only through a post to the waiter's executor,
// and only while the waiter still waits. Contract: that executor runs on
// one thread (each of the edge's event loops does); Wait is called once.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>

namespace sluice {

template <class T>
class Awaited : public std::enable_shared_from_this<Awaited<T>> {
 public:
  explicit Awaited(boost::asio::any_io_executor executor) : executor_(std::move(executor)) {}

  // From any thread. False when the waiter gave up already (or an answer
  // came before): the value is dropped.
  bool Deliver(T value) {
    std::lock_guard lock(mu_);
    if (gave_up_ || result_) return false;
    result_ = std::move(value);
    if (timer_) {
      boost::asio::post(executor_, [self = this->shared_from_this()] {
        std::lock_guard lock(self->mu_);
        if (self->timer_) self->timer_->cancel();
      });
    }
    return true;
  }

  // On the executor given above: the answer, or nothing at the deadline.
  boost::asio::awaitable<std::optional<T>> Wait(std::chrono::steady_clock::duration deadline) {
    boost::asio::steady_timer timer(executor_);
    timer.expires_after(deadline);
    bool ready;
    {
      std::lock_guard lock(mu_);
      ready = result_.has_value();
      if (!ready) timer_ = &timer;
    }
    if (!ready) {
      boost::system::error_code ec;
      co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    std::lock_guard lock(mu_);
    timer_ = nullptr;
    gave_up_ = true;
    co_return std::move(result_);
  }

 private:
  boost::asio::any_io_executor executor_;
  std::mutex mu_;
  boost::asio::steady_timer* timer_ = nullptr;  // GUARDED_BY(mu_); set while the waiter waits
  bool gave_up_ = false;                        // GUARDED_BY(mu_)
  std::optional<T> result_;                     // GUARDED_BY(mu_)
};

}  // namespace sluice
