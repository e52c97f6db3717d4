// The SMTP client against a scripted next hop (a fake: unit tests may use
// one; the integration tests use smtp-sink, Postfix, Dovecot and Sluice).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <string>
#include <thread>

#include "delivery/delivery.h"

namespace sluice::delivery {
namespace {

// A next hop on loopback that answers one message, and notes whether MAIL,
// RCPT and DATA arrived before it had answered any of them.
class ScriptedHop {
 public:
  explicit ScriptedHop(bool pipelining) : pipelining_(pipelining) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 1);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedHop() {
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  bool group_in_one_go() const { return group_in_one_go_; }

 private:
  void Send(int c, const std::string& s) { ::send(c, s.data(), s.size(), MSG_NOSIGNAL); }
  // Reads until `what` has been seen or nothing comes for `ms`.
  bool ReadUntil(int c, const std::string& what, int ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    while (in_.find(what) == std::string::npos) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return false;
      in_.append(buf, n);
    }
    return true;
  }
  void Serve() {
    int c = ::accept(fd_, nullptr, nullptr);
    Send(c, "220 hop\r\n");
    ReadUntil(c, "\r\n", 5000);
    in_.clear();
    Send(c, pipelining_ ? "250-hop\r\n250 PIPELINING\r\n" : "250 hop\r\n");
    // Without pipelining the client waits for MAIL's reply: give up soon.
    group_in_one_go_ = ReadUntil(c, "DATA\r\n", 500);
    if (!group_in_one_go_) {
      Send(c, "250 2.1.0 ok\r\n");
      ReadUntil(c, "RCPT", 5000);
      ReadUntil(c, "\r\n", 5000);
      Send(c, "250 2.1.5 ok\r\n");
      ReadUntil(c, "DATA\r\n", 5000);
      Send(c, "354 go\r\n");
    } else {
      Send(c, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n");
    }
    ReadUntil(c, "\r\n.\r\n", 5000);
    Send(c, "250 2.0.0 queued\r\n");
    ReadUntil(c, "QUIT\r\n", 5000);
    Send(c, "221 bye\r\n");
    ::close(c);
  }
  bool pipelining_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::string in_;
  bool group_in_one_go_ = false;
  std::thread thread_;
};

std::vector<Outcome> DeliverOne(uint16_t port) {
  DestinationOptions o;
  o.name = "hop";
  o.kind = DestinationKind::kSmtp;
  o.host = "127.0.0.1";
  o.port = port;
  o.tls = DestinationOptions::Tls::kNone;
  o.idle_connection = std::chrono::seconds(0);
  auto d = MakeSmtpDelivery(o, "client.test");
  auto e = std::make_shared<Envelope>();
  e->sender = "s@client.test";
  e->rcpt_to = {"r@hop.test"};
  e->routes = {RecipientRoute{"r@hop.test", "t", "f", "hop", "", false}};
  Job j;
  j.queue_id = "QID";
  j.envelope = e;
  j.recipients = {0};
  j.content = std::make_shared<const std::string>("Subject: x\r\n\r\nhello\r\n");
  boost::asio::io_context io;
  auto op = d->Deliver(j);
  auto f = boost::asio::co_spawn(io, std::move(op), boost::asio::use_future);
  io.run();
  auto out = f.get();
  d->CloseIdle();  // QUIT on the loop the connection belongs to
  return out;
}

// The fleet's block caps the throttle; without one the throttle alone
// decides. And the stage routes a next hop's name ("dest/host[addr]") to
// its destination, so the fleet reaches an mx destination's per-host
// throttles (a name the router did not know was NotFound before).
TEST(SmtpClient, TheFleetsBlockCapsConcurrencyAndNamesRouteToTheirDestination) {
  DestinationOptions o;
  o.name = "hop";
  o.kind = DestinationKind::kSmtp;
  o.host = "127.0.0.1";
  o.port = 1;
  o.max_concurrency = 8;
  auto d = MakeDelivery({o}, "client.test", 1);
  EXPECT_TRUE(d->SetFleetShare("hop", 3).ok());
  auto s = d->Stats();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].concurrency_limit, 3u);
  EXPECT_EQ(s[0].max_concurrency, 8u);
  EXPECT_EQ(s[0].fleet_share, std::optional<size_t>(3));
  EXPECT_TRUE(d->SetFleetShare("hop/mx.example[192.0.2.1]", std::nullopt).ok());  // to "hop", by the prefix
  EXPECT_EQ(d->Stats()[0].concurrency_limit, 8u);
  EXPECT_EQ(d->SetFleetShare("other/mx.example[192.0.2.1]", 1).code(), Status::Code::kNotFound);
  EXPECT_EQ(d->PauseDestination("other", std::chrono::milliseconds(10), "x").code(), Status::Code::kNotFound);
  d->Stop();
}

TEST(SmtpClient, PipelinesMailRcptDataWhenOffered) {
  ScriptedHop hop(true);
  auto out = DeliverOne(hop.port());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Outcome::Kind::kDelivered) << out[0].reply;
  EXPECT_TRUE(hop.group_in_one_go());
}

TEST(SmtpClient, WaitsForEachReplyWithoutPipelining) {
  ScriptedHop hop(false);
  auto out = DeliverOne(hop.port());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Outcome::Kind::kDelivered) << out[0].reply;
  EXPECT_FALSE(hop.group_in_one_go());
}

}  // namespace
}  // namespace sluice::delivery
