// A test driver for smtp::Session: answers its actions from fakes the way
// server/ answers them from real stages.
#pragma once

#include <cctype>
#include <string>
#include <vector>

#include "smtp/session.h"

namespace sluice::smtp::test {

using directory::LookupResult;
using directory::Reason;


// Drives a Session the way server/ does, answering actions from fakes.
class Driver {
 public:
  explicit Driver(SessionOptions o = SessionOptions{})
      : session_(std::make_shared<const SessionOptions>(std::move(o)), ClientInfo{"192.0.2.1"}) {
    Run(session_.Start());
  }

  // Feeds `bytes` and returns every reply line produced, joined.
  std::string Send(std::string_view bytes) {
    out_.clear();
    Run(session_.Feed(std::span<const char>(bytes.data(), bytes.size())));
    return out_;
  }

  // The fake directory: "*@ours.example" exists except "nobody@"; "slow@"
  // is saturated; anything else is not our domain.
  static LookupResult Lookup(const std::string& a) {
    if (a == "nobody@ours.example") return LookupResult::No(Reason::kUnknownUser, "na-1");
    if (a == "slow@ours.example") return LookupResult::TryLater(Reason::kSaturated, "na-1");
    if (a == "late@ours.example") return LookupResult::TryLater(Reason::kTimedOut, "na-1");
    if (a.size() > 13 && a.substr(a.size() - 13) == "@ours.example") {
      RecipientRoute r{a, "t", "na-1", "local", ""};
      return LookupResult::Yes(r);
    }
    return LookupResult::No(Reason::kUnknownDomain);
  }

  Session& session() { return session_; }
  std::vector<StoreMessage> stored;
  std::vector<std::string> looked_up;
  bool closed = false;
  Status store_status;
  Reply admit_refusal;                 // code 0: every MAIL is admitted
  std::vector<size_t> admitted_sizes;  // SIZE of each MAIL that asked
  bool tls_ok = true;
  int tls_handshakes = 0;

 private:
  void Run(std::vector<Action> actions) {
    for (auto& a : actions) {
      if (auto* r = std::get_if<Reply>(&a)) {
        out_ += r->text;
      } else if (auto* l = std::get_if<LookupRecipient>(&a)) {
        looked_up.push_back(l->address);
        Run(session_.Resume(Lookup(l->address)));
      } else if (std::holds_alternative<StartTls>(a)) {
        ++tls_handshakes;
        Run(session_.Resume(TlsResult{tls_ok}));
      } else if (auto* m = std::get_if<AdmitMail>(&a)) {
        admitted_sizes.push_back(m->declared_size);
        Run(session_.Resume(AdmitResult{admit_refusal}));
      } else if (auto* s = std::get_if<StoreMessage>(&a)) {
        stored.push_back(std::move(*s));
        Run(session_.Resume(StoreResult{store_status, store_status.ok() ? "QID1" : "", false, {}}));
      } else {
        closed = true;
      }
    }
  }
  Session session_;
  std::string out_;
};

// First reply code of each line.
inline std::vector<std::string> Codes(const std::string& replies) {
  std::vector<std::string> codes;
  size_t pos = 0;
  while (pos < replies.size()) {
    size_t end = replies.find("\r\n", pos);
    std::string line = replies.substr(pos, end - pos);
    if (line.size() < 4 || line[3] == ' ') {
      bool enhanced = line.size() > 4 && std::isdigit(static_cast<unsigned char>(line[4]));
      codes.push_back(enhanced ? line.substr(0, line.find(' ', 4)) : line.substr(0, 3));
    }
    pos = end + 2;
  }
  return codes;
}

}  // namespace sluice::smtp::test
