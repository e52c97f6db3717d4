// A coroutine's pause, in (fractional) seconds, on its own executor.
#pragma once

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace storm {

inline boost::asio::awaitable<void> Sleep(double seconds) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
  t.expires_after(std::chrono::microseconds(static_cast<int64_t>(std::max(0.0, seconds) * 1e6)));
  boost::system::error_code ec;
  co_await t.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
}

}  // namespace storm
