#include "queue/quarantine.h"

#include <gtest/gtest.h>

namespace sluice::queue {
namespace {

MessageInfo Held(std::string id, int64_t received, std::vector<std::string> tenants,
                 std::string reason = "spam: x: y") {
  MessageInfo m;
  m.id = std::move(id);
  m.received_unix = received;
  m.quarantine = std::move(reason);
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

// Mail held for its scan was accepted (the sender had its 250): neither
// its age nor a short spool lets the sweep delete it.
TEST(Quarantine, TheSweepNeverTakesMailWaitingForItsScan) {
  const int64_t day = 86400, now = 100 * day;
  auto retention = [](const std::string&) { return std::chrono::seconds(15 * 86400); };
  std::vector<MessageInfo> held{Held("P", now - 30 * day, {"t"}, "pending: rspamd: timeout"),
                                Held("Q", now - 20 * day, {"t"}), Held("R", now - day, {"t"}),
                                Held("S", now - 2 * day, {"t"})};
  auto gone = ChooseForSweep(held, retention, now, true, 2);
  std::vector<std::string> ids;
  for (const auto& g : gone) ids.push_back(g.first + ":" + g.second);
  EXPECT_EQ(ids, (std::vector<std::string>{"Q:retention", "S:short of space", "R:short of space"}));
  EXPECT_EQ(ExpiredQuarantine(held, retention, now), (std::vector<std::string>{"Q"}));
}

}  // namespace
}  // namespace sluice::queue
