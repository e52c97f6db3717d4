#include "app/ctl_quarantine.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>

namespace sluice::app {

using nlohmann::json;

struct QuarantineCommands::Args {
  CLI::App* quarantine = nullptr;
  CLI::App *list = nullptr, *show = nullptr, *release = nullptr, *remove = nullptr;
  std::vector<std::string> ids;
  std::string tenant, category, sender, rcpt;
  bool as_json = false;
};

namespace {

std::string Joined(const json& list) {
  std::string out;
  for (const auto& x : list) out += (out.empty() ? "" : ", ") + x.get<std::string>();
  return out;
}

void PrintList(const json& messages) {
  std::cout << fmt::format("{:<18}  {:>7}  {:<8}  {:<28}  {}\n", "QUEUE ID", "AGE", "CATEGORY", "SENDER",
                           "RECIPIENTS / REASON");
  for (const auto& m : messages) {
    const std::string sender = m["sender"].get<std::string>();
    std::cout << fmt::format("{:<18}  {:>7}  {:<8}  {:<28}  {}\n", m["id"].get<std::string>(),
                             FormatAge(m["age_seconds"].get<long long>()), m["category"].get<std::string>(),
                             sender.empty() ? "<>" : sender.substr(0, 28), Joined(m["recipients"]));
    std::cout << fmt::format("{:<70}{}\n", "", m["reason"].get<std::string>());
  }
  std::cout << fmt::format("-- {} message(s) in quarantine shown\n", messages.size());
}

int Usage(const std::string& what) {
  std::cerr << "sluicectl: " << what << " (see sluicectl quarantine --help)\n";
  return 2;
}

}  // namespace

QuarantineCommands::QuarantineCommands(CLI::App& parent) : a_(std::make_unique<Args>()) {
  Args& a = *a_;
  a.quarantine = parent.add_subcommand("quarantine", "see, release and delete quarantined mail");
  a.quarantine->require_subcommand(1);
  a.list = a.quarantine->add_subcommand("list", "quarantined messages");
  a.list->add_option("--tenant", a.tenant, "messages with a recipient of this tenant");
  a.list->add_option("--category", a.category, "malware, spam, or pending (held for its scan)");
  a.list->add_option("--sender", a.sender, "sender contains this (case-insensitive)");
  a.list->add_option("--rcpt", a.rcpt, "a recipient contains this (case-insensitive)");
  a.list->add_flag("--json", a.as_json, "print the API's JSON");
  a.show = a.quarantine->add_subcommand("show", "one message: why, who, its headers");
  a.show->add_option("id", a.ids, "queue id")->required()->expected(1);
  a.show->add_flag("--json", a.as_json, "print the API's JSON");
  a.release = a.quarantine->add_subcommand("release", "deliver messages, past the filters (malware: operator token)");
  a.release->add_option("ids", a.ids, "queue ids")->required();
  a.remove = a.quarantine->add_subcommand("delete", "delete messages without telling the sender");
  a.remove->add_option("ids", a.ids, "queue ids")->required();
}

QuarantineCommands::~QuarantineCommands() = default;

bool QuarantineCommands::chosen() const { return a_->quarantine->parsed(); }

int QuarantineCommands::Run(const Target& t) {
  Args& a = *a_;
  static const std::regex kId("^[0-9A-F]{18}$");
  for (const auto& id : a.ids) {
    if (!std::regex_match(id, kId)) return Usage(fmt::format("\"{}\" is not a queue id (18 upper-case hex digits)", id));
  }
  if (a.list->parsed()) {
    if (!a.category.empty() && a.category != "malware" && a.category != "spam" && a.category != "pending") {
      return Usage(fmt::format("--category \"{}\" is not one of malware, spam, pending", a.category));
    }
    json filter = json::object();
    if (!a.tenant.empty()) filter["tenant"] = a.tenant;
    if (!a.category.empty()) filter["category"] = a.category;
    if (!a.sender.empty()) filter["sender"] = a.sender;
    if (!a.rcpt.empty()) filter["rcpt"] = a.rcpt;
    HttpResponse r = Call(t, false, "/api/v1/quarantine" + QueryString(filter));
    if (r.status != 200) return Done(r);
    if (a.as_json) {
      std::cout << r.body;
    } else {
      PrintList(json::parse(r.body));
    }
    return 0;
  }
  if (a.show->parsed()) {
    HttpResponse r = Call(t, false, "/api/v1/quarantine/" + a.ids.front());
    if (r.status != 200) return Done(r);
    if (a.as_json) {
      std::cout << r.body;
      return 0;
    }
    json m = json::parse(r.body);
    std::string headers = m.value("headers", "");
    headers.erase(std::remove(headers.begin(), headers.end(), '\r'), headers.end());
    std::cout << fmt::format("queue id:   {}\nsender:     <{}>\nrecipients: {}\ntenants:    {}\nage:        {}\n"
                             "category:   {}\nreason:     {}\nsize:       {}\n\n{}",
                             m["id"].get<std::string>(), m["sender"].get<std::string>(), Joined(m["recipients"]),
                             Joined(m["tenants"]), FormatAge(m["age_seconds"].get<long long>()),
                             m["category"].get<std::string>(), m["reason"].get<std::string>(), m.value("size", 0),
                             headers);
    return 0;
  }
  const bool release = a.release->parsed();
  HttpResponse r = Call(t, true, release ? "/api/v1/quarantine/release" : "/api/v1/quarantine/delete",
                        json{{"ids", a.ids}}.dump());
  std::string ok;
  if (r.status == 200) {
    ok = fmt::format("ok: {} message(s) {}", json::parse(r.body).value("messages", 0),
                     release ? "released" : "deleted");
  }
  return Done(r, ok);
}

}  // namespace sluice::app
