#include "app/ctl_queue.h"

#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>

namespace sluice::app {

using nlohmann::json;

struct QueueCommands::Args {
  CLI::App* queue = nullptr;
  CLI::App* list = nullptr;
  CLI::App* show = nullptr;
  std::map<std::string, CLI::App*> actions;  // hold, release, retry, delete, bounce
  std::vector<std::string> ids;
  std::string state, tenant, destination, sender, rcpt, min_age, reason;
  bool all = false, policy = false, as_json = false;
};

namespace {

std::string Cut(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n - 1) + "~"; }

void PrintList(const json& messages, const json& queue) {
  std::cout << fmt::format("{:<18}  {:>7}  {:<8}  {:<28}  {}\n", "QUEUE ID", "AGE", "STATE", "SENDER", "RECIPIENTS");
  for (const auto& m : messages) {
    std::string sender = m["sender"].get<std::string>();
    bool first = true;
    for (const auto& r : m["recipients"]) {
      std::string rcpt = fmt::format("{} [{}, {} attempts]", r["address"].get<std::string>(),
                                     r["state"].get<std::string>(), r["attempts"].get<uint64_t>());
      if (!r["last_reply"].get<std::string>().empty()) rcpt += " " + Cut(r["last_reply"].get<std::string>(), 60);
      if (first) {
        std::cout << fmt::format("{:<18}  {:>7}  {:<8}  {:<28}  {}\n", m["id"].get<std::string>(),
                                 FormatAge(m["age_seconds"].get<long long>()), m["state"].get<std::string>(),
                                 Cut(sender.empty() ? "<>" : sender, 28), rcpt);
      } else {
        std::cout << fmt::format("{:<18}  {:>7}  {:<8}  {:<28}  {}\n", "", "", "", "", rcpt);
      }
      first = false;
    }
  }
  std::cout << fmt::format("-- {} message(s) shown; queue: {} ready, {} deferred, {} hold, {} in flight\n",
                           messages.size(), queue["ready"].get<uint64_t>(), queue["deferred"].get<uint64_t>(),
                           queue["hold"].get<uint64_t>(), queue["in_flight"].get<uint64_t>());
  for (const auto& h : queue["hold_policies"]) {
    std::cout << fmt::format("-- hold policy: {} {} (since {}s ago){}\n", h["kind"].get<std::string>(),
                             h["name"].get<std::string>(),
                             std::time(nullptr) - h["since_unix"].get<long long>(),
                             h["reason"].get<std::string>().empty() ? "" : ": " + h["reason"].get<std::string>());
  }
}

void PrintMessage(const json& m) {
  std::cout << fmt::format("queue id:  {}\nsender:    <{}>\nage:       {}\nstate:     {}\nsize:      {}\n\n",
                           m["id"].get<std::string>(), m["sender"].get<std::string>(),
                           FormatAge(m["age_seconds"].get<long long>()), m["state"].get<std::string>(),
                           m.value("size", 0));
  for (const auto& r : m["recipients"]) {
    std::cout << fmt::format("  {}  {}  tenant={} forest={} destination={} attempts={}\n    {}\n",
                             r["address"].get<std::string>(), r["state"].get<std::string>(),
                             r["tenant"].get<std::string>(), r["forest"].get<std::string>(),
                             r["destination"].get<std::string>(), r["attempts"].get<uint64_t>(),
                             r["last_reply"].get<std::string>().empty() ? "(no attempt yet)"
                                                                        : r["last_reply"].get<std::string>());
  }
  std::string headers = m.value("headers", "");
  headers.erase(std::remove(headers.begin(), headers.end(), '\r'), headers.end());
  std::cout << "\n" << headers;
}

// One line and exit code 2 for a call that cannot be right.
int Usage(const std::string& what) {
  std::cerr << "sluicectl: " << what << " (see sluicectl queue --help)\n";
  return 2;
}

}  // namespace

QueueCommands::QueueCommands(CLI::App& parent) : a_(std::make_unique<Args>()) {
  Args& a = *a_;
  a.queue = parent.add_subcommand("queue", "see and steer queued mail");
  a.queue->require_subcommand(1);
  auto filters = [&a](CLI::App* c) {
    c->add_option("--state", a.state, "ready, deferred, hold or active");
    c->add_option("--tenant", a.tenant, "messages with a recipient of this tenant");
    c->add_option("--destination", a.destination, "messages with a recipient for this destination");
    c->add_option("--sender", a.sender, "sender contains this (case-insensitive)");
    c->add_option("--rcpt", a.rcpt, "a recipient contains this (case-insensitive)");
    c->add_option("--min-age", a.min_age, "older than this: 90s, 15m, 4h, 2d");
  };
  a.list = a.queue->add_subcommand("list", "queued messages, oldest first");
  filters(a.list);
  a.list->add_flag("--json", a.as_json, "print the API's JSON");
  a.show = a.queue->add_subcommand("show", "one message: envelope, recipients, headers");
  a.show->add_option("id", a.ids, "queue id")->required()->expected(1);
  a.show->add_flag("--json", a.as_json, "print the API's JSON");
  const std::pair<const char*, const char*> verbs[] = {
      {"hold", "hold messages (or, with --policy, everything for a tenant or destination)"},
      {"release", "release held messages (or, with --policy, lift a hold policy)"},
      {"retry", "attempt deferred messages now"},
      {"delete", "delete messages without telling the sender"},
      {"bounce", "return messages to their senders with a DSN"}};
  for (const auto& [verb, help] : verbs) {
    CLI::App* c = a.queue->add_subcommand(verb, help);
    c->add_option("ids", a.ids, "queue ids");
    filters(c);
    c->add_flag("--all", a.all, "every message (when no id or filter is given)");
    if (std::string(verb) == "hold" || std::string(verb) == "release") {
      c->add_flag("--policy", a.policy, "a standing hold for --tenant or --destination, kept across restarts");
      c->add_option("--reason", a.reason, "why, for the log and `queue list`");
    }
    a.actions[verb] = c;
  }
}

QueueCommands::~QueueCommands() = default;

bool QueueCommands::chosen() const { return a_->queue->parsed(); }

int QueueCommands::Run(const Target& t) {
  Args& a = *a_;
  static const std::regex kId("^[0-9A-F]{18}$");
  for (const auto& id : a.ids) {
    if (!std::regex_match(id, kId)) return Usage(fmt::format("\"{}\" is not a queue id (18 upper-case hex digits)", id));
  }
  json filter = json::object();
  if (!a.ids.empty()) filter["ids"] = a.ids;
  if (!a.state.empty()) {
    if (a.state != "ready" && a.state != "deferred" && a.state != "hold" && a.state != "active") {
      return Usage(fmt::format("--state \"{}\" is not one of ready, deferred, hold, active", a.state));
    }
    filter["state"] = a.state;
  }
  if (!a.tenant.empty()) filter["tenant"] = a.tenant;
  if (!a.destination.empty()) filter["destination"] = a.destination;
  if (!a.sender.empty()) filter["sender"] = a.sender;
  if (!a.rcpt.empty()) filter["rcpt"] = a.rcpt;
  if (!a.min_age.empty()) {
    auto age = ParseAge(a.min_age);
    if (!age) return Usage(fmt::format("--min-age \"{}\" is not a duration like 90s, 15m, 4h, 2d", a.min_age));
    filter["min_age"] = *age;
  }

  if (a.list->parsed()) {
    const std::string query = QueryString(filter, "ids");
    HttpResponse r = Call(t, false, "/api/v1/queue/messages" + query);
    if (r.status != 200) return Done(r);
    if (a.as_json) {
      std::cout << r.body;
      return 0;
    }
    HttpResponse q = Call(t, false, "/api/v1/queue");
    if (q.status != 200) return Done(q);
    PrintList(json::parse(r.body), json::parse(q.body));
    return 0;
  }
  if (a.show->parsed()) {
    HttpResponse r = Call(t, false, "/api/v1/queue/messages/" + a.ids.front());
    if (r.status != 200) return Done(r);
    if (a.as_json) {
      std::cout << r.body;
    } else {
      PrintMessage(json::parse(r.body));
    }
    return 0;
  }
  for (const auto& [verb, cmd] : a.actions) {
    if (!cmd->parsed()) continue;
    if (a.policy) {
      if (a.tenant.empty() == a.destination.empty() || !a.ids.empty()) {
        return Usage("--policy needs exactly one of --tenant or --destination, and no ids");
      }
      json body{{"kind", a.tenant.empty() ? "destination" : "tenant"},
                {"name", a.tenant.empty() ? a.destination : a.tenant},
                {"reason", a.reason},
                {"hold", verb == "hold"}};
      return Done(Call(t, true, "/api/v1/queue/holds", body.dump()),
                  fmt::format("ok: {} {} is {}", body["kind"].get<std::string>(), body["name"].get<std::string>(),
                              verb == "hold" ? "on hold" : "released"));
    }
    if (filter.empty() && !a.all) return Usage(fmt::format("{} what? give queue ids, a filter, or --all", verb));
    if (a.all) filter["all"] = true;
    HttpResponse r = Call(t, true, "/api/v1/queue/" + verb, filter.dump());
    std::string ok;
    if (r.status == 200) ok = fmt::format("ok: {} message(s)", json::parse(r.body).value("messages", 0));
    return Done(r, ok);
  }
  return Usage("no queue command given");
}

}  // namespace sluice::app
