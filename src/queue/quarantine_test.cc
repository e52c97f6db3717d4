#include "queue/quarantine.h"

#include <gtest/gtest.h>

namespace sluice::queue {
namespace {

MessageInfo Held(std::string id, int64_t received, std::vector<std::string> tenants) {
  MessageInfo m;
  m.id = std::move(id);
  m.received_unix = received;
  m.quarantine = "spam: x: y";
  for (auto& t : tenants) m.recipients.push_back({"r@" + t, t, "", "", RecipientView::kHold, 0, 0, ""});
  return m;
}

TEST(Quarantine, RetentionIsTheLongestOfTheMessagesTenants) {
  const int64_t day = 86400, now = 100 * day;
  auto retention = [](const std::string& tenant) {
    return std::chrono::seconds(tenant == "brief" ? 2 * 86400 : 15 * 86400);
  };
  std::vector<MessageInfo> held{Held("A", now - 3 * day, {"brief"}), Held("B", now - 3 * day, {"brief", "long"}),
                                Held("C", now - 16 * day, {"long"}), Held("D", now - day, {"brief"})};
  EXPECT_EQ(ExpiredQuarantine(held, retention, now), (std::vector<std::string>{"A", "C"}));
}

}  // namespace
}  // namespace sluice::queue
