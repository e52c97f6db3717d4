// Runs a blocking function on a thread pool and resumes the calling
// coroutine on its own executor with the result: how event loops use the
// spool, the embedded directory and the file system without blocking.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>

namespace sluice {

namespace detail {
// A coroutine that takes its function as a parameter: parameters live in the
// coroutine frame, unlike the captures of a coroutine lambda.
template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> CallBlocking(F f) {
  co_return f();
}
}  // namespace detail

// g++ 12 mishandles non-trivial temporaries around co_await: a by-value
// argument built inside the co_await expression, or a result that is
// discarded, is destroyed twice. So operations are built in a statement of
// their own first and every result is stored. Callers do the same.
template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> Offload(boost::asio::thread_pool& pool, F f) {
  auto call = detail::CallBlocking(std::move(f));
  auto op = boost::asio::co_spawn(pool, std::move(call), boost::asio::use_awaitable);
  co_return co_await std::move(op);
}

}  // namespace sluice
