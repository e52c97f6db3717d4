// Spool writes from coroutines: the writer's completion resumes the
// awaiting coroutine on its own executor (one post per change, from the
// writer thread), so an event loop never blocks on a sync.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

#include "spool/spool.h"

namespace sluice::spool {

// `co_await AsyncWrite(spool, change)` → Status. Build it in a statement of
// its own before awaiting (common/offload.h explains why).
template <class Token = const boost::asio::use_awaitable_t<>&>
auto AsyncWrite(Spool& spool, Change change, Token&& token = boost::asio::use_awaitable) {
  return boost::asio::async_initiate<Token, void(Status)>(
      [&spool](auto handler, Change c) {
        auto ex = boost::asio::get_associated_executor(handler);
        // The handler is move-only and WriteDone is copyable: share it.
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        // A tracked executor keeps the awaiting loop from running out of
        // work while the write is pending.
        auto tracked = boost::asio::prefer(ex, boost::asio::execution::outstanding_work.tracked);
        spool.Write(std::move(c), [h, tracked](Status s) {
          boost::asio::post(tracked, [h, s = std::move(s)]() mutable { (*h)(std::move(s)); });
        });
      },
      token, std::move(change));
}

}  // namespace sluice::spool
