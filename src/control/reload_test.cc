// The reload table, without stages: for each section, a change either runs
// after the reload or is reported and keeps its running value.
#include "control/reload.h"

#include <gtest/gtest.h>

#include <functional>

namespace sluice::control {
namespace {

Config Base() {
  Config c;
  c.source = "sluice.toml";
  directory::ForestOptions f;
  f.name = "f1";
  c.directory.forests = {f};
  delivery::DestinationOptions d;
  d.name = "store";
  d.max_concurrency = 20;
  c.destinations = {d};
  return c;
}

struct Row {
  const char* name;
  std::function<void(Config&)> change;
  std::function<bool(const Config& next, const Config& wanted)> runs;  // did the change take?
  std::vector<std::string> restart;                                     // what the plan reports
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

class ReloadTable : public ::testing::TestWithParam<Row> {};

TEST_P(ReloadTable, LiveOrReported) {
  const Row& row = GetParam();
  const Config running = Base();
  Config wanted = running;
  row.change(wanted);
  ASSERT_FALSE(wanted == running) << "the row changes nothing";
  ReloadPlan plan = PlanReload(running, wanted);
  EXPECT_EQ(plan.restart_needed, row.restart);
  const bool live = row.restart.empty();
  EXPECT_EQ(row.runs(plan.next, wanted), live) << (live ? "a live change was held back" : "a restart-only change ran");
  if (live) {
    EXPECT_TRUE(plan.next == wanted);
  } else {
    EXPECT_TRUE(plan.next == running) << "a restart-only change leaves the running config as it is";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Sections, ReloadTable,
    ::testing::Values(
        Row{"forest limit", [](Config& c) { c.directory.forests[0].limit = 7; },
            [](const Config& n, const Config&) { return n.directory.forests[0].limit == 7; }, {}},
        Row{"forest adaptive", [](Config& c) { c.directory.forests[0].adaptive = true; },
            [](const Config& n, const Config&) { return n.directory.forests[0].adaptive; },
            {"directory and forests (other than limits)"}},
        Row{"forest added",
            [](Config& c) {
              c.directory.forests.push_back(c.directory.forests[0]);
              c.directory.forests[1].name = "f2";
            },
            [](const Config& n, const Config&) { return n.directory.forests.size() == 2; },
            {"directory and forests (other than limits)"}},
        Row{"cluster", [](Config& c) { c.cluster.lease_ttl = std::chrono::seconds(9); },
            [](const Config& n, const Config&) { return n.cluster.lease_ttl == std::chrono::seconds(9); },
            {"cluster"}},
        Row{"destination ceiling", [](Config& c) { c.destinations[0].max_concurrency = 4; },
            [](const Config& n, const Config&) { return n.destinations[0].max_concurrency == 4; }, {}},
        Row{"destination host", [](Config& c) { c.destinations[0].host = "mx.example"; },
            [](const Config& n, const Config&) { return n.destinations[0].host == "mx.example"; },
            {"destinations (other than max_concurrency)"}},
        Row{"message size", [](Config& c) { c.session.max_message_size = 1234; },
            [](const Config& n, const Config&) { return n.session.max_message_size == 1234; }, {}},
        Row{"listener added",
            [](Config& c) {
              c.server.listeners.push_back(c.server.listeners[0]);
              c.server.listeners[1].name = "submission";
            },
            [](const Config& n, const Config&) { return n.server.listeners.size() == 2; }, {}},
        Row{"workers", [](Config& c) { c.server.workers = 7; },
            [](const Config& n, const Config&) { return n.server.workers == 7; }, {"server.workers"}},
        Row{"blocking threads", [](Config& c) { c.blocking_threads = 3; },
            [](const Config& n, const Config&) { return n.blocking_threads == 3; }, {"server.blocking_threads"}},
        Row{"log level", [](Config& c) { c.log.level = log::Level::kDebug; },
            [](const Config& n, const Config&) { return n.log.level == log::Level::kDebug; }, {}},
        Row{"log format", [](Config& c) { c.log.format = log::Format::kJson; },
            [](const Config& n, const Config&) { return n.log.format == log::Format::kJson; }, {"log.format"}},
        Row{"placement", [](Config& c) { c.placement = {{"acme", "f1", 3}}; },
            [](const Config& n, const Config&) { return n.placement.size() == 1; }, {}},
        Row{"spool", [](Config& c) { c.spool.path = "/elsewhere"; },
            [](const Config& n, const Config&) { return n.spool.path == "/elsewhere"; }, {"spool"}},
        Row{"dns", [](Config& c) { c.dns.tries = 5; },
            [](const Config& n, const Config&) { return n.dns.tries == 5; }, {"dns"}},
        Row{"queue", [](Config& c) { c.queue.retry_initial = std::chrono::seconds(1); },
            [](const Config& n, const Config&) { return n.queue.retry_initial == std::chrono::seconds(1); },
            {"queue"}},
        Row{"admin", [](Config& c) { c.admin.token = "t"; },
            [](const Config& n, const Config&) { return n.admin.token == "t"; }, {"admin and alerts"}},
        Row{"flight", [](Config& c) { c.flight.min_lookups = 3; },
            [](const Config& n, const Config&) { return n.flight.min_lookups == 3; }, {"flight"}},
        Row{"hostname",
            [](Config& c) {
              c.hostname = c.session.hostname = c.queue.hostname = c.admin.hostname = "mx2.example";
            },
            [](const Config& n, const Config&) { return n.session.hostname == "mx2.example"; },
            {"hostname", "queue", "admin and alerts"}}),
    [](const ::testing::TestParamInfo<Row>& info) {
      std::string name = info.param.name;
      for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

TEST(Reload, ALiveAndARestartOnlyChangeTogether) {
  const Config running = Base();
  Config wanted = running;
  wanted.directory.forests[0].limit = 9;
  wanted.spool.path = "/elsewhere";
  ReloadPlan plan = PlanReload(running, wanted);
  EXPECT_EQ(plan.restart_needed, std::vector<std::string>{"spool"});
  EXPECT_EQ(plan.next.directory.forests[0].limit, 9u);
  EXPECT_EQ(plan.next.spool.path, running.spool.path);
}

TEST(Reload, ChangedSectionsNamesEachSectionOnce) {
  const Config a = Base();
  Config b = a;
  EXPECT_TRUE(ChangedSections(a, b).empty());
  b.dns.tries = 1;
  b.directory.forests[0].limit = 1;
  EXPECT_EQ(ChangedSections(a, b), (std::vector<std::string>{"dns", "directory"}));
}

}  // namespace
}  // namespace sluice::control
