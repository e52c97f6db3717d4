#include "engines.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <csignal>
#include <thread>

#include "http.h"

extern char** environ;

namespace storm {

namespace asio = boost::asio;

uint16_t FreePort() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

pid_t SpawnLogged(const std::string& file, const std::vector<std::string>& args, const std::string& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> argv{const_cast<char*>(file.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, file.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

void Stop(pid_t& pid, int sig) {
  if (pid <= 0) return;
  ::kill(pid, sig);
  if (sig == SIGSTOP || sig == SIGCONT) return;
  ::kill(pid, SIGCONT);  // a stopped process cannot act on SIGTERM
  int status = 0;
  for (int i = 0; i < 600 && waitpid(pid, &status, WNOHANG) == 0; ++i) usleep(50'000);
  if (waitpid(pid, &status, WNOHANG) == 0) {
    ::kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  pid = -1;
}

namespace {

// A blocking GET for the start-up checks, before the storm's loop runs.
int Get(uint16_t port, const std::string& path) {
  asio::io_context io;
  int status = 0;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto call = HttpCall(port, "GET", path, "", "");
    HttpReply r = co_await std::move(call);
    status = r.status;
  }, asio::detached);
  io.run();
  return status;
}

bool Accepts(uint16_t port) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  return !ec;
}

template <class F>
bool WaitUntil(F ready) {
  for (int i = 0; i < 300; ++i) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace

Engines::~Engines() {
  Stop(redis, SIGKILL);
  for (auto& m : etcd) Stop(m.pid, SIGKILL);
}

bool Engines::StartRedis() {
  if (redis_port == 0) redis_port = FreePort();
  redis = SpawnLogged("redis-server",
                      {"--port", std::to_string(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                       "no", "--dir", dir_.string()},
                      (dir_ / "redis.log").string());
  return redis > 0 && WaitUntil([&] { return Accepts(redis_port); });
}

bool Engines::StartMember(size_t i) {
  Member& m = etcd[i];
  const std::string client = fmt::format("http://127.0.0.1:{}", m.client);
  const std::string peer = fmt::format("http://127.0.0.1:{}", m.peer);
  m.pid = SpawnLogged("etcd",
                      {"--name", m.name, "--data-dir", (dir_ / m.name).string(), "--listen-client-urls", client,
                       "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls",
                       peer, "--initial-cluster", initial_, "--initial-cluster-state", "new", "--heartbeat-interval",
                       "50", "--election-timeout", "500"},
                      (dir_ / (m.name + ".log")).string());
  return m.pid > 0;
}

std::string Engines::Start() {
  if (!StartRedis()) return "redis-server did not start (is it installed?); see " + (dir_ / "redis.log").string();
  for (int i = 0; i < 3; ++i) etcd.push_back(Member{fmt::format("e{}", i + 1), FreePort(), FreePort()});
  for (const auto& m : etcd) initial_ += fmt::format("{}{}=http://127.0.0.1:{}", initial_.empty() ? "" : ",", m.name, m.peer);
  for (size_t i = 0; i < etcd.size(); ++i) {
    if (!StartMember(i)) return "etcd did not start (is etcd-server installed?)";
  }
  if (!WaitUntil([&] { return Get(etcd[0].client, "/health") == 200; })) {
    return "etcd did not reach quorum; see " + (dir_ / "e1.log").string();
  }
  return "";
}

std::string Engines::ClusterConfig(const std::string& name) const {
  std::string endpoints;
  for (const auto& m : etcd) endpoints += fmt::format("{}\"http://127.0.0.1:{}\"", endpoints.empty() ? "" : ", ", m.client);
  return fmt::format(R"(
[cluster]
node = "{}"
redis = "127.0.0.1:{}"
redis_timeout = "100ms"
etcd = [{}]
)",
                     name, redis_port, endpoints);
}

}  // namespace storm
