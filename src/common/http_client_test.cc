// The HTTP client against a scripted loopback peer (a fake is fine here:
// webhooks and sluicectl meet real servers and a real proxy in the
// integration tests), and which proxy the environment chooses.
#include "common/http_client.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <thread>

namespace sluice {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Accepts one connection, reads the request head (and a body of
// Content-Length), records it, then writes `reply` verbatim.
class OneShotPeer {
 public:
  explicit OneShotPeer(std::string reply) : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, reply = std::move(reply)] {
      tcp::socket s(io_);
      acceptor_.accept(s);
      asio::streambuf buf;
      boost::system::error_code ec;
      size_t head = asio::read_until(s, buf, "\r\n\r\n", ec);
      std::string all(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
      request_ = all.substr(0, head);
      auto cl = request_.find("Content-Length: ");
      if (cl != std::string::npos) {
        size_t want = std::stoul(request_.substr(cl + 16));
        while (all.size() - head < want && !ec) {
          char more[4096];
          size_t n = s.read_some(asio::buffer(more), ec);
          all.append(more, n);
        }
        body_ = all.substr(head);
      }
      if (!reply.empty()) asio::write(s, asio::buffer(reply), ec);
      if (reply.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(800));  // say nothing
      s.close();
    });
  }
  ~OneShotPeer() {
    if (thread_.joinable()) thread_.join();
  }
  uint16_t port() const { return port_; }
  std::string request() {
    thread_.join();
    return request_;
  }
  const std::string& body() const { return body_; }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::string request_, body_;
};

HttpRequest Post(uint16_t port) {
  HttpRequest r;
  r.method = "POST";
  r.url = {false, "127.0.0.1", port, "/hook?k=1"};
  r.headers = {{"X-Api-Key", "s3cret"}, {"Content-Type", "application/json"}};
  r.body = R"({"a":1})";
  r.timeout = std::chrono::milliseconds(2000);
  return r;
}

TEST(HttpClient, SendsHeadersAndBodyAndReadsTheReply) {
  OneShotPeer peer("HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\nConnection: close\r\n\r\nthank");
  auto reply = FetchBlocking(Post(peer.port()));
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  EXPECT_EQ(reply.value().status, 202);
  EXPECT_EQ(reply.value().body, "thank");
  const std::string req = peer.request();
  EXPECT_EQ(req.rfind("POST /hook?k=1 HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("X-Api-Key: s3cret\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("Host: 127.0.0.1:" + std::to_string(peer.port()) + "\r\n"), std::string::npos) << req;
  EXPECT_EQ(peer.body(), R"({"a":1})");
}

TEST(HttpClient, AReplyLongerThanTheLimitIsAnError) {
  OneShotPeer peer("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(100000, 'A'));
  HttpRequest r = Post(peer.port());
  r.body_limit = 1000;
  auto reply = FetchBlocking(r);
  ASSERT_FALSE(reply.ok()) << reply.value().status << " " << reply.value().body.size();
  EXPECT_EQ(reply.status().message(), "reply longer than 1000 bytes");
}

TEST(HttpClient, AChunkedReplyLongerThanTheLimitIsAnError) {
  OneShotPeer peer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n186A0\r\n" + std::string(100000, 'A') + "\r\n0\r\n\r\n");
  HttpRequest r = Post(peer.port());
  r.body_limit = 1000;
  auto reply = FetchBlocking(r);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().message(), "reply longer than 1000 bytes");
}

TEST(HttpClient, APeerThatSaysNothingTimesOut) {
  OneShotPeer peer("");
  HttpRequest r = Post(peer.port());
  r.timeout = std::chrono::milliseconds(300);
  auto reply = FetchBlocking(r);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().message(), "no reply: timed out after 300 ms");
}

TEST(HttpClient, AHeaderWithALineBreakIsRefusedBeforeConnecting) {
  HttpRequest r = Post(1);  // nothing listens on port 1: refusing must come first
  r.headers.emplace_back("X-Evil", "a\r\nX-Injected: 1");
  auto reply = FetchBlocking(r);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().message(), "header \"X-Evil\" is not a valid HTTP header");
}

TEST(HttpClient, ConnectionRefusedNamesTheAddress) {
  auto reply = FetchBlocking(Post(1));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().message().rfind("connect 127.0.0.1:1: ", 0), 0u) << reply.status().message();
}

TEST(HttpClient, PlainRequestsThroughAProxyNameTheWholeUrl) {
  OneShotPeer proxy("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  HttpRequest r = Post(8080);
  r.url.host = "hooks.example";
  r.proxy = Url{false, "127.0.0.1", proxy.port(), "/"};
  auto reply = FetchBlocking(r);
  ASSERT_TRUE(reply.ok()) << reply.status().message();
  const std::string req = proxy.request();
  EXPECT_EQ(req.rfind("POST http://hooks.example:8080/hook?k=1 HTTP/1.1\r\n", 0), 0u) << req;
}

TEST(HttpClient, AProxyThatRefusesTheTunnelIsNamed) {
  OneShotPeer proxy("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
  HttpRequest r = Post(443);
  r.url = {true, "hooks.example", 443, "/x"};
  r.proxy = Url{false, "127.0.0.1", proxy.port(), "/"};
  auto reply = FetchBlocking(r);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().message(), "proxy refused the tunnel: HTTP 403");
  EXPECT_EQ(proxy.request().rfind("CONNECT hooks.example:443 HTTP/1.1\r\n", 0), 0u);
}

std::map<std::string, std::string>* g_env = nullptr;
std::optional<std::string> FakeEnv(const char* name) {
  auto it = g_env->find(name);
  if (it == g_env->end()) return std::nullopt;
  return it->second;
}

struct ProxyCase {
  const char* name;
  std::map<std::string, std::string> env;
  Url target;
  const char* want;  // proxy host:port, "" for none, "error" for an error
};

class ProxyTable : public testing::TestWithParam<ProxyCase> {};

TEST_P(ProxyTable, ChoosesWhatTheEnvironmentSays) {
  ProxyCase c = GetParam();
  g_env = &c.env;
  auto p = ProxyFor(c.target, FakeEnv);
  if (std::string(c.want) == "error") {
    EXPECT_FALSE(p.ok());
    return;
  }
  ASSERT_TRUE(p.ok()) << p.status().message();
  std::string got = p.value() ? p.value()->host + ":" + std::to_string(p.value()->port) : "";
  EXPECT_EQ(got, c.want);
}

const Url kHttps{true, "hooks.slack.com", 443, "/services/x"};
const Url kHttp{false, "alerts.example.net", 80, "/"};

INSTANTIATE_TEST_SUITE_P(
    Environment, ProxyTable,
    testing::Values(ProxyCase{"none_set", {}, kHttps, ""},
                    ProxyCase{"https_proxy", {{"HTTPS_PROXY", "http://proxy.corp:3128"}}, kHttps, "proxy.corp:3128"},
                    ProxyCase{"lowercase", {{"https_proxy", "http://p:8080"}}, kHttps, "p:8080"},
                    ProxyCase{"http_uses_http_proxy", {{"HTTPS_PROXY", "http://s:1"}, {"HTTP_PROXY", "http://h:2"}}, kHttp, "h:2"},
                    ProxyCase{"https_ignores_http_proxy", {{"HTTP_PROXY", "http://h:2"}}, kHttps, ""},
                    ProxyCase{"no_proxy_domain", {{"HTTPS_PROXY", "http://p:1"}, {"NO_PROXY", "localdomain, .slack.com"}}, kHttps, ""},
                    ProxyCase{"no_proxy_exact", {{"HTTPS_PROXY", "http://p:1"}, {"NO_PROXY", "hooks.slack.com"}}, kHttps, ""},
                    ProxyCase{"no_proxy_not_a_suffix", {{"HTTPS_PROXY", "http://p:1"}, {"NO_PROXY", "ack.com"}}, kHttps, "p:1"},
                    ProxyCase{"no_proxy_star", {{"HTTPS_PROXY", "http://p:1"}, {"no_proxy", "*"}}, kHttps, ""},
                    ProxyCase{"loopback_direct", {{"HTTP_PROXY", "http://p:1"}}, Url{false, "127.0.0.1", 9000, "/"}, ""},
                    ProxyCase{"unparsable", {{"HTTPS_PROXY", "proxy.corp:3128"}}, kHttps, "error"},
                    ProxyCase{"https_proxy_url", {{"HTTPS_PROXY", "https://p:1"}}, kHttps, "error"}),
    [](const testing::TestParamInfo<ProxyCase>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace sluice
