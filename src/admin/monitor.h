// The admin server's clock: once a second it samples the stages, evaluates
// the alert rules, sends notices to the webhooks, and keeps an hour of
// history for the dashboard. Runs on the admin event loop; readers on other
// threads take a short lock.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "admin/admin.h"
#include "admin/alerts.h"
#include "admin/webhook.h"

namespace sluice::admin {

// Copies the figures of this moment out of the stages.
Sample TakeSample(AdminStages st, int64_t now_ms);

class Monitor {
 public:
  Monitor(AlertOptions o, AdminStages st, std::string host);
  void Start(boost::asio::io_context& io);
  void Stop();
  // One round: sample, evaluate, notify. The timer calls it; tests may too.
  void Tick(int64_t now_ms);

  std::vector<Alert> Active() const;
  const std::vector<AlertRule>& Rules() const { return engine_.rules(); }
  std::vector<WebhookStats> Webhooks() const;
  nlohmann::json AlertsJson() const;   // GET /api/v1/alerts
  nlohmann::json HistoryJson() const;  // the dashboard's charts

 private:
  struct Point {  // one history point: rates over the preceding step
    int64_t at_ms = 0;
    double r2xx = 0, r4xx = 0, r5xx = 0;  // replies per minute
    uint64_t queue = 0;
    int64_t oldest_age_s = 0;
    std::vector<std::pair<std::string, std::pair<double, double>>> forests;  // name → (saturation, latency ms)
  };
  void Schedule();
  void Record(const Sample& now);

  AlertOptions o_;
  AdminStages st_;
  std::string host_;
  std::unique_ptr<boost::asio::steady_timer> timer_;
  std::vector<std::unique_ptr<Webhook>> webhooks_;
  mutable std::mutex mu_;
  Window window_;
  AlertEngine engine_;
  std::deque<Point> history_;
  Sample last_point_sample_;
  std::deque<Notice> recent_;  // the last notices, newest last
};

}  // namespace sluice::admin
