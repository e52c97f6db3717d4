#include "cluster/control_plane.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/log.h"
#include "mail/clock.h"

namespace sluice::cluster {
namespace {

using json = nlohmann::json;
constexpr const char* kControl = "sluice/control/";
constexpr const char* kMembers = "sluice/members/";

int64_t Now() { return mail::Clock::System().NowUnix(); }

}  // namespace

ControlPlane::ControlPlane(ControlOptions o, MemberInfo self, directory::Directory& directory, queue::Queue& queue)
    : o_(std::move(o)), self_(std::move(self)), directory_(directory), queue_(queue),
      reader_(o_.etcd, o_.timeout), writer_(o_.etcd, o_.timeout) {
  status_.state_since_unix = Now();
  Load();
}

void ControlPlane::Start() {
  polls_.Start(o_.poll_interval, [this] {
    KeepMember();
    Poll();
  }, /*now=*/true);
}

// The value already applied (from the snapshot) is handed over at once.
void ControlPlane::Watch(const std::string& name, Watcher fn) {
  const std::string current = Applied(name);
  watchers_[kControl + name] = fn;
  if (!current.empty()) fn(current);
}

Result<int64_t> ControlPlane::Put(const std::string& name, const std::string& value) {
  return Write(kControl + name, value);
}

std::string ControlPlane::Applied(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = applied_.find(kControl + name);
  return it == applied_.end() ? "" : it->second;
}

void ControlPlane::SetMemberExtra(std::string json) {
  std::lock_guard lock(mu_);
  member_extra_ = std::move(json);
}

ControlPlane::~ControlPlane() { Stop(); }

void ControlPlane::Stop() { polls_.Stop(); }

ControlStatus ControlPlane::View() {
  std::lock_guard lock(mu_);
  return status_;
}

// Registers this node under a lease, and refreshes it a few times per TTL.
void ControlPlane::KeepMember() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_keepalive_) return;
  next_keepalive_ = now + o_.member_ttl / 3;
  if (lease_) {
    auto alive = reader_.KeepAlive(lease_);
    if (!alive.ok()) return;  // Poll reports etcd's state
    if (!alive.value()) lease_ = 0;  // expired while etcd was away: register again
  }
  if (!lease_) {
    auto granted = reader_.Grant(o_.member_ttl);
    if (!granted.ok()) return;
    lease_ = granted.value();
  }
  json me = {{"node", self_.node}, {"smtp", self_.smtp}, {"admin", self_.admin}, {"version", self_.version},
             {"config_version", self_.config_version}, {"seen_unix", Now()}};
  if (!self_.shadow.empty()) me["shadow"] = self_.shadow;
  if (!self_.failure_domain.empty()) me["failure_domain"] = self_.failure_domain;
  {
    std::lock_guard lock(mu_);
    if (!member_extra_.empty()) me["extra"] = json::parse(member_extra_, nullptr, false);
  }
  (void)reader_.Put(kMembers + self_.node, me.dump(), lease_);
}

// Changes since the last applied revision, then the member list.
void ControlPlane::Poll() {
  int64_t after;
  {
    std::lock_guard lock(mu_);
    after = status_.revision;
  }
  auto changes = reader_.Get(kControl, after);
  auto members = changes.ok() ? reader_.Get(kMembers) : changes.status();
  if (!members.ok()) {
    std::lock_guard lock(mu_);
    if (status_.state != "unreachable") {
      log::Event("control plane unreachable, running on the snapshot").With("reason", members.status().message()).Warn();
      status_.state = "unreachable";
      status_.state_since_unix = Now();
    }
    status_.reason = members.status().message();
    return;
  }
  bool changed = false;
  for (const auto& kv : changes.value().kvs) {
    {
      std::lock_guard lock(mu_);
      status_.change_revision = std::max(status_.change_revision, kv.mod_revision);
      auto it = applied_.find(kv.key);
      if (it != applied_.end() && it->second == kv.value) continue;
      applied_[kv.key] = kv.value;
    }
    Apply(kv);
    changed = true;
  }
  std::vector<Member> list;
  for (const auto& kv : members.value().kvs) {
    try {
      json j = json::parse(kv.value);
      Member m{j.value("node", ""), j.value("smtp", ""), j.value("admin", ""), j.value("version", ""),
               j.value("config_version", ""), j.value("seen_unix", int64_t{0}),
               j.contains("extra") ? j["extra"].dump() : "", j.value("shadow", ""), j.value("failure_domain", "")};
      list.push_back(std::move(m));
    } catch (const std::exception&) {
      // a member that wrote nonsense is left out of the list
    }
  }
  {
    std::lock_guard lock(mu_);
    // The changes' own revision, not the later member listing's: a change
    // written between the two reads is above the first and would be
    // skipped for good.
    status_.revision = changes.value().revision;
    if (status_.state != "ok") {
      log::Event("control plane reachable").With("endpoint", reader_.endpoint())
          .With("revision", status_.revision).Info();
      status_.state = "ok";
      status_.reason.clear();
      status_.state_since_unix = Now();
    }
    status_.endpoint = reader_.endpoint();
    // The names go into the snapshot too: a node flight's cohort is drawn
    // from them, also by a node that restarts while etcd is away.
    auto names = [](const std::vector<Member>& v) {
      std::vector<std::string> out;
      for (const auto& m : v) out.push_back(m.node);
      return out;
    };
    changed = changed || names(list) != names(status_.members);
    status_.members = std::move(list);
  }
  if (changed) Save();
}

// One key onto this node's stages. A value this node cannot apply (a
// forest it does not have) is logged and skipped: the others may have it.
void ControlPlane::Apply(const EtcdKv& kv) {
  const std::string rest = kv.key.substr(std::string(kControl).size());
  if (auto w = watchers_.find(kv.key); w != watchers_.end()) {
    w->second(kv.value);
    return;
  }
  if (rest == "flight") return;  // its watcher, registered later, takes it from applied_
  Status st = Status::Ok();
  if (rest.rfind("placement/", 0) == 0) {
    st = directory_.MoveTenant(rest.substr(10), kv.value);
  } else if (rest.rfind("limit/", 0) == 0) {
    size_t limit = 0;
    try {
      limit = std::stoul(kv.value);
    } catch (...) {
    }
    st = directory_.SetForestLimit(rest.substr(6), limit);
  } else if (rest.rfind("hold/", 0) == 0) {
    const size_t slash = rest.find('/', 5);
    auto kind = slash == std::string::npos ? std::nullopt : queue::ParseHoldKind(rest.substr(5, slash - 5));
    if (!kind) {
      st = Status::InvalidArgument("not a hold key");
    } else {
      json v = json::parse(kv.value, nullptr, false);
      queue::HoldPolicy hold;
      hold.kind = *kind;
      hold.name = rest.substr(slash + 1);
      hold.reason = v.is_object() ? v.value("reason", "") : "";
      st = queue_.SetHold(hold, v.is_object() && v.value("on", false));
    }
  } else {
    st = Status::InvalidArgument("unknown key");
  }
  auto e = log::Event(st.ok() ? "control change applied" : "control change not applied")
               .With("key", kv.key).With("value", kv.value).With("revision", kv.mod_revision);
  if (st.ok()) {
    e.Info();
  } else {
    e.With("reason", st.message()).Warn();
  }
}

void ControlPlane::Save() {
  if (o_.snapshot.empty()) return;
  json j;
  {
    std::lock_guard lock(mu_);
    json members = json::array();
    for (const auto& m : status_.members) members.push_back(m.node);
    j = {{"revision", status_.revision}, {"change_revision", status_.change_revision}, {"keys", applied_},
         {"members", members}};
  }
  const std::string tmp = o_.snapshot + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << j.dump(1) << "\n";
    if (!f) return;
  }
  std::rename(tmp.c_str(), o_.snapshot.c_str());
}

// The last-known-good state, before etcd has said anything.
void ControlPlane::Load() {
  if (o_.snapshot.empty()) return;
  std::ifstream f(o_.snapshot);
  if (!f) return;
  std::stringstream ss;
  ss << f.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (!j.is_object() || !j["keys"].is_object()) {
    log::Event("control snapshot unreadable, ignored").With("file", o_.snapshot).Warn();
    return;
  }
  for (const auto& [key, value] : j["keys"].items()) {
    if (!value.is_string()) continue;
    {
      std::lock_guard lock(mu_);
      applied_[key] = value.get<std::string>();
    }
    Apply(EtcdKv{key, value.get<std::string>(), 0});
  }
  status_.revision = j.value("revision", int64_t{0});
  status_.change_revision = j.value("change_revision", int64_t{0});
  for (const auto& name : j.value("members", json::array())) {
    if (!name.is_string()) continue;
    Member m;
    m.node = name.get<std::string>();
    status_.members.push_back(std::move(m));
  }
  log::Event("control snapshot applied").With("file", o_.snapshot).With("revision", status_.revision)
      .With("keys", static_cast<int64_t>(applied_.size())).Info();
}

// Read the key's revision, then put only if it is unchanged: two operators
// writing at once cannot lose one's update unseen.
Result<int64_t> ControlPlane::Write(const std::string& key, const std::string& value) {
  std::lock_guard lock(write_mu_);
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto cur = writer_.Get(key);
    if (!cur.ok()) return cur.status();
    int64_t expected = 0;
    for (const auto& kv : cur.value().kvs) {
      if (kv.key == key) expected = kv.mod_revision;
    }
    auto put = writer_.PutIf(key, value, expected);
    if (!put.ok()) return put.status();
    if (put.value().succeeded) return put.value().revision;
  }
  return Status::Unavailable("etcd: " + key + " kept changing under this write; try again");
}

Result<int64_t> ControlPlane::MoveTenant(const std::string& tenant, const std::string& forest) {
  const directory::Catalog c = directory_.catalog();
  if (!c.tenant_forest.count(tenant)) return Status::NotFound("no tenant " + tenant);
  if (std::find(c.forests.begin(), c.forests.end(), forest) == c.forests.end()) {
    return Status::NotFound("no forest " + forest);
  }
  return Write(std::string(kControl) + "placement/" + tenant, forest);
}

Result<int64_t> ControlPlane::SetForestLimit(const std::string& forest, size_t limit) {
  const directory::Catalog c = directory_.catalog();
  if (std::find(c.forests.begin(), c.forests.end(), forest) == c.forests.end()) {
    return Status::NotFound("no forest " + forest);
  }
  if (limit < 1) return Status::InvalidArgument("limit must be at least 1");
  return Write(std::string(kControl) + "limit/" + forest, std::to_string(limit));
}

Result<int64_t> ControlPlane::SetHold(const queue::HoldPolicy& hold, bool on) {
  if (hold.name.empty() || hold.name.find('/') != std::string::npos) {
    return Status::InvalidArgument("a hold needs a name without '/'");
  }
  json v = {{"on", on}, {"reason", hold.reason}};
  return Write(std::string(kControl) + "hold/" + queue::ToString(hold.kind) + "/" + hold.name, v.dump());
}

}  // namespace sluice::cluster
