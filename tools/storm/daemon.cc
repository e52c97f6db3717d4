#include "daemon.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>

#include "engines.h"
#include "http.h"
#include "mail/ascii.h"
#include "sleep.h"

extern char** environ;

namespace storm {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;


}  // namespace

bool ParseCpuList(const std::string& list, cpu_set_t* out) {
  CPU_ZERO(out);
  const long have = sysconf(_SC_NPROCESSORS_ONLN);
  const bool ok = sluice::mail::EachPart(list, ',', [&](std::string_view view) {
    const std::string item(view);
    int a = -1, b = -1;
    char tail = 0;
    const int n = std::sscanf(item.c_str(), "%d-%d%c", &a, &b, &tail);
    if (n == 1) b = a;
    if ((n != 1 && n != 2) || a < 0 || b < a || b >= have) return false;
    if (n == 1 && item.find_first_not_of("0123456789") != std::string::npos) return false;
    for (int c = a; c <= b; ++c) CPU_SET(c, out);
    return true;
  });
  if (!ok) CPU_ZERO(out);
  return ok && CPU_COUNT(out) > 0;
}

void Daemon::Write(const Scenario& s, uint16_t sink_port, uint16_t webhook_port, const std::string& cluster) {
  smtp_port = FreePort();
  admin_port = FreePort();
  std::ofstream seed(dir_ / "seed.toml");
  seed << "forests = [";
  for (size_t i = 0; i < s.forests.size(); ++i) seed << (i ? ", " : "") << '"' << s.forests[i] << '"';
  seed << "]\n";
  for (const auto& t : s.tenants) {
    seed << fmt::format("\n[[tenants]]\nname = \"{}\"\nforest = \"{}\"\ndomains = [\"{}.storm\"]\ndestination = \"sink\"\n",
                        t.name, t.forest, t.name);
    for (int i = 0; i < t.recipients; ++i) seed << fmt::format("  [[tenants.recipients]]\n  address = \"user{}@{}.storm\"\n", i, t.name);
  }
  std::string forests;
  if (s.sluice_config.find("[forests.") == std::string::npos) {
    for (const auto& f : s.forests) forests += fmt::format("[forests.{}]\nreplicas = [\"sqlite\"]\n", f);
  }
  std::ofstream(dir_ / "sluice.toml") << fmt::format(R"(# Written by sluice-storm for scenario "{name}".
[server]
hostname = "{host}.sluice.test"
listen = ["127.0.0.1:{smtp}"]
[spool]
path = "{dir}/spool"
[directory]
path = "{dir}/directory.db"
seed = "{dir}/seed.toml"
fault_injection = true
{forests}
[destinations.sink]
type = "lmtp"
host = "127.0.0.1"
port = {sink}
backoff_max = "10s"   # a store back from trouble is tried again soon
[queue]
retry_initial = "1s"
retry_max = "4s"
[admin]
listen = "127.0.0.1:{admin}"
token = "{token}"
[alerts]
interval = "1s"
[[alerts.webhook]]
name = "storm"
url = "http://127.0.0.1:{webhook}/alerts"
format = "json"
retry_initial = "1s"
[log]
format = "json"
{extra}
{cluster}
)",
      fmt::arg("name", s.name), fmt::arg("smtp", smtp_port), fmt::arg("dir", fs::absolute(dir_).string()),
      fmt::arg("forests", forests), fmt::arg("sink", sink_port), fmt::arg("admin", admin_port),
      fmt::arg("token", kToken), fmt::arg("webhook", webhook_port), fmt::arg("extra", s.sluice_config),
      fmt::arg("cluster", cluster), fmt::arg("host", name.empty() ? std::string("storm") : name));
}

bool Daemon::Spawn() {
  const std::string config = (dir_ / "sluice.toml").string(), log = (dir_ / "sluice.log").string();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  const char* argv[] = {bin_.c_str(), "serve", "--config", config.c_str(), nullptr};
  // A child inherits the affinity of the thread that spawns it, and its
  // threads inherit it from their parent: pin this thread for the spawn only.
  cpu_set_t mine;
  const bool pin = cpus.has_value() && sched_getaffinity(0, sizeof mine, &mine) == 0 &&
                   sched_setaffinity(0, sizeof *cpus, &*cpus) == 0;
  int rc = posix_spawn(&pid, bin_.c_str(), &fa, nullptr, const_cast<char* const*>(argv), environ);
  if (pin) sched_setaffinity(0, sizeof mine, &mine);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0;
}

asio::awaitable<bool> Daemon::Ready() {
  for (int i = 0; i < 600; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      co_return false;
    }
    auto call = HttpCall(admin_port, "GET", "/api/v1/health", "", kToken);
    HttpReply r = co_await std::move(call);
    if (r.status == 200) co_return true;
    auto wait = Sleep(0.05);
    co_await std::move(wait);
  }
  co_return false;
}

void Daemon::Kill(int sig) {
  if (pid <= 0) return;
  ::kill(pid, sig);
  int status = 0;
  for (int i = 0; i < 600 && waitpid(pid, &status, WNOHANG) == 0; ++i) usleep(50'000);
  if (waitpid(pid, &status, WNOHANG) == 0) {
    ::kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  pid = -1;
}

}  // namespace storm
