// Alert notifications as JSON webhooks: a generic body, or one that Slack's
// and Teams' incoming webhooks accept. Each webhook has its own FIFO, so a
// dead receiver delays only itself and firing always precedes resolved.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "common/url.h"
#include "admin/alerts.h"

namespace sluice::admin {

// The body a webhook of `format` receives for a notice. `host` names this Sluice.
std::string WebhookBody(WebhookOptions::Format format, const Notice& n, const std::string& host);
const char* ToString(WebhookOptions::Format f);

struct WebhookStats {
  std::string name, url, format;
  uint64_t sent = 0, retries = 0, dropped = 0;
  size_t pending = 0;
  std::string last_error;
};

class Webhook {
 public:
  Webhook(boost::asio::io_context& io, WebhookOptions o, std::string host);
  void Start();                 // runs its sender on `io`
  void Post(const Notice& n);   // queues; never blocks
  void Stop();
  WebhookStats Stats() const;

 private:
  boost::asio::awaitable<void> Run();
  boost::asio::awaitable<Status> Send(std::string body);

  boost::asio::io_context& io_;
  WebhookOptions o_;
  std::string host_;
  Url url_;
  boost::asio::steady_timer wake_;
  mutable std::mutex mu_;
  std::deque<std::string> pending_;  // bodies
  WebhookStats stats_;
  bool stopped_ = false;
};

}  // namespace sluice::admin
