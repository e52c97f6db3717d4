// The admin API's routes with fake stages: who may read and change what,
// the Host check, and a handler that throws.
#include "admin/admin_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "delivery/delivery.h"
#include "directory/directory.h"
#include "queue/queue.h"
#include "server/edge_metrics.h"

namespace sluice::admin {
namespace {

class FakeDirectory final : public directory::Directory {
 public:
  boost::asio::awaitable<directory::LookupResult> Resolve(std::string) override {
    co_return directory::LookupResult::No(directory::Reason::kUnknownDomain);
  }
  Status MoveTenant(const std::string&, const std::string&) override { return Status::Ok(); }
  Status SetForestLimit(const std::string&, size_t l) override {
    limit = l;
    return Status::Ok();
  }
  Status SetForestFault(const std::string&, directory::FaultOptions) override { return Status::Ok(); }
  Status SetFleetShare(const std::string&, std::optional<size_t>) override { return Status::Ok(); }
  Status SetFlightLanes(std::map<std::string, size_t>, int) override { return Status::Ok(); }
  std::vector<directory::ForestStats> Stats() override {
    if (throw_in_stats) throw std::runtime_error("a stage broke");
    directory::ForestStats f;
    f.name = "na-1";
    f.limit = 50;
    return {f};
  }
  directory::Catalog catalog() override { return {}; }
  bool throw_in_stats = false;
  size_t limit = 0;
};

class FakeQueue final : public queue::Queue {
 public:
  Status Start() override { return Status::Ok(); }
  void Submit(std::string, std::shared_ptr<const Envelope>, spool::Content, bool) override {}
  void Stop(std::chrono::seconds) override {}
  queue::QueueStats Stats() override { return {}; }
  std::vector<queue::MessageInfo> List(const queue::Filter&) override {
    queue::MessageInfo m;
    m.id = "0123456789ABCDEF01";
    m.sender = "secret-sender@example.org";
    queue::RecipientInfo r;
    r.address = "bob@acme.example";
    r.last_reply = "451 4.7.0 \xff\xfe not UTF-8";  // as a hostile peer said it, before sanitizing
    m.recipients = {r};
    return {m};
  }
  Result<spool::Content> Content(const std::string&) override {
    return spool::Content(std::make_shared<const std::string>("Subject: x\r\n\r\nbody"));
  }
  Result<size_t> Apply(queue::OperatorAction, const queue::Filter&) override { return size_t{1}; }
  Status Resolve(const std::string&, const std::string&, queue::Rescanned) override { return Status::Ok(); }
  std::vector<queue::HoldPolicy> Holds() override { return {}; }
  Status SetHold(const queue::HoldPolicy&, bool) override { return Status::Ok(); }
};

class FakeDelivery final : public delivery::Delivery {
 public:
  boost::asio::awaitable<std::vector<delivery::Outcome>> Deliver(const delivery::Job&) override {
    co_return std::vector<delivery::Outcome>{};
  }
  std::vector<delivery::DestinationStats> Stats() override { return {}; }
};

class AdminApi : public ::testing::Test {
 protected:
  AdminApi() : stages_{directory_, queue_, delivery_, edge_} {
    o_.token = "full-token-0123456789";
    o_.read_token = "read-token-0123456789";
  }
  ApiResponse Call(const std::string& method, const std::string& target, const std::string& token,
                   const std::string& body = "") {
    ApiRequest r{method, target, body, token.empty() ? "" : "Bearer " + token, {}};
    size_t q = r.target.find('?');
    if (q != std::string::npos) {
      r.query = r.target.substr(q + 1);
      r.target.resize(q);
    }
    return HandleApi(r, o_, stages_);
  }
  FakeDirectory directory_;
  FakeQueue queue_;
  FakeDelivery delivery_;
  server::EdgeMetrics edge_;
  AdminStages stages_;
  AdminOptions o_;
};

TEST_F(AdminApi, HealthMetricsAndTheDashboardNeedNoToken) {
  EXPECT_EQ(Call("GET", "/api/v1/health", "").status, 200);
  EXPECT_EQ(Call("GET", "/metrics", "").status, 200);
  EXPECT_EQ(Call("GET", "/", "").status, 200);
  EXPECT_EQ(Call("GET", "/dashboard.js", "").status, 200);
}

TEST_F(AdminApi, MailDataNeedsAToken) {
  for (const char* path : {"/api/v1/queue/messages", "/api/v1/queue/messages/0123456789ABCDEF01", "/api/v1/status",
                           "/api/v1/forests", "/api/v1/destinations", "/api/v1/queue"}) {
    ApiResponse none = Call("GET", path, "");
    EXPECT_EQ(none.status, 401) << path;
    EXPECT_EQ(none.body.find("secret-sender"), std::string::npos) << path;
    EXPECT_EQ(Call("GET", path, "wrong-token-0123456789").status, 401) << path;
    EXPECT_EQ(Call("GET", path, o_.read_token).status, 200) << path;
    EXPECT_EQ(Call("GET", path, o_.token).status, 200) << path;
  }
  o_.token.clear();
  o_.read_token.clear();
  EXPECT_EQ(Call("GET", "/api/v1/queue/messages", "").status, 403);
  EXPECT_EQ(Call("GET", "/api/v1/health", "").status, 200);
}

TEST_F(AdminApi, TheReadTokenChangesNothing) {
  ApiResponse r = Call("POST", "/api/v1/forests/na-1/limit", o_.read_token, R"({"limit":7})");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(directory_.limit, 0u);
  EXPECT_EQ(Call("POST", "/api/v1/forests/na-1/limit", o_.token, R"({"limit":7})").status, 200);
  EXPECT_EQ(directory_.limit, 7u);
}

TEST_F(AdminApi, InvalidUtf8FromAPeerStillMakesJson) {
  ApiResponse r = Call("GET", "/api/v1/queue/messages", o_.token);
  ASSERT_EQ(r.status, 200);
  auto j = nlohmann::json::parse(r.body);  // would throw on invalid UTF-8
  EXPECT_NE(j[0]["recipients"][0]["last_reply"].get<std::string>().find("\xEF\xBF\xBD"), std::string::npos);
}

TEST_F(AdminApi, AnExceptionIsA500WithABody) {
  directory_.throw_in_stats = true;
  ApiResponse r = Call("GET", "/api/v1/forests", o_.token);
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(nlohmann::json::parse(r.body)["error"].get<std::string>().find("a stage broke"), std::string::npos);
}

TEST_F(AdminApi, MetricsListenerServesOnlyFigures) {
  ApiRequest r{"GET", "/metrics", "", "", {}, /*metrics_only=*/true};
  EXPECT_EQ(HandleApi(r, o_, stages_).status, 200);
  r.target = "/api/v1/health/ready";
  EXPECT_EQ(HandleApi(r, o_, stages_).status, 200);
  r.target = "/api/v1/queue/messages";
  r.authorization = "Bearer " + o_.token;
  EXPECT_EQ(HandleApi(r, o_, stages_).status, 404);
  r.target = "/";
  EXPECT_EQ(HandleApi(r, o_, stages_).status, 404);
}

TEST(HostAllowed, IpLiteralsLocalhostAndConfiguredNames) {
  const std::vector<std::string> names = {"admin.mail.example"};
  for (const char* ok : {"127.0.0.1:8025", "127.0.0.1", "localhost:8025", "LOCALHOST", "[::1]:8025", "[::1]",
                         "10.0.0.5:8025", "admin.mail.example", "admin.mail.example:8025"}) {
    EXPECT_TRUE(HostAllowed(ok, 8025, names)) << ok;
  }
  for (const char* bad : {"", "attacker.example", "attacker.example:8025", "127.0.0.1:9999", "localhost:1",
                          "[::1", "::1", "admin.mail.example.evil:8025", "127.0.0.1.nip.io:8025"}) {
    EXPECT_FALSE(HostAllowed(bad, 8025, names)) << bad;
  }
}

}  // namespace
}  // namespace sluice::admin
