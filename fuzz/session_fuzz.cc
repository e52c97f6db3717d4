// libFuzzer target: arbitrary bytes into smtp::Session, split into reads
// at fuzzer-chosen points, with lookups and stores answered. Asserts the
// protocol's invariants rather than just "does not crash".
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "smtp/session.h"

namespace {

using namespace sluice;
using namespace sluice::smtp;

void Check(bool ok) {
  if (!ok) std::abort();
}

// Every reply line: three digits, ' ' or '-', text, CRLF; one code per reply.
void CheckReply(const Reply& r) {
  Check(r.code >= 200 && r.code <= 599);
  std::string_view t = r.text;
  Check(!t.empty());
  while (!t.empty()) {
    size_t end = t.find("\r\n");
    Check(end != std::string_view::npos && end >= 3 && end <= 512);
    Check(std::atoi(std::string(t.substr(0, 3)).c_str()) == r.code);
    Check(end == 3 || t[3] == ' ' || t[3] == '-');
    t.remove_prefix(end + 2);
  }
}

directory::LookupResult Answer(const std::string& address) {
  size_t h = std::hash<std::string>()(address);
  switch (h % 4) {
    case 0: return directory::LookupResult::No(directory::Reason::kUnknownUser, "f");
    case 1: return directory::LookupResult::TryLater(directory::Reason::kSaturated, "f");
    default: {
      RecipientRoute r{address, "t", "f", "local", ""};
      return directory::LookupResult::Yes(r);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  auto opts = std::make_shared<SessionOptions>();
  opts->max_message_size = 4096;
  opts->max_errors = 50;
  opts->starttls = data[0] & 1;
  opts->bare_line_endings = (data[0] & 2) ? BareLineEndings::kNormalize : BareLineEndings::kReject;
  const bool drop_content = data[0] & 4;
  const size_t step = 1 + data[1] % 64;  // read size
  data += 2;
  size -= 2;
  Session s(opts, ClientInfo{"192.0.2.1"});
  bool closed = false;
  std::vector<Action> pending = s.Start();
  size_t pos = 0;
  while (true) {
    while (!pending.empty()) {
      std::vector<Action> next;
      for (auto& a : pending) {
        Check(!closed);  // nothing after Close
        if (auto* r = std::get_if<Reply>(&a)) {
          CheckReply(*r);
        } else if (auto* l = std::get_if<LookupRecipient>(&a)) {
          next = s.Resume(Answer(l->address));
        } else if (auto* m = std::get_if<StoreMessage>(&a)) {
          Check(!m->envelope.rcpt_to.empty());
          Check(m->envelope.rcpt_to.size() == m->envelope.routes.size());
          Check(m->body.size() <= opts->max_message_size);
          if (opts->bare_line_endings == BareLineEndings::kNormalize) {
            // After normalization every CR is followed by LF and vice versa.
            for (size_t i = 0; i < m->body.size(); ++i) {
              if (m->body[i] == '\r') Check(i + 1 < m->body.size() && m->body[i + 1] == '\n');
              if (m->body[i] == '\n') Check(i > 0 && m->body[i - 1] == '\r');
            }
          }
          next = s.Resume(StoreResult{Status::Ok(), "ID", false, {}});
        } else if (auto* m = std::get_if<AdmitMail>(&a)) {
          Check(m->declared_size <= opts->max_message_size);
          // Refuse some transactions as a full spool would.
          next = s.Resume(AdmitResult{m->declared_size % 3 == 1 ? replies::StorageFull() : Reply{}});
        } else if (std::holds_alternative<StartTls>(a)) {
          next = s.Resume(TlsResult{true});
        } else {
          closed = true;
        }
      }
      pending = std::move(next);
    }
    if (closed || pos >= size) break;
    size_t n = std::min(step, size - pos);
    pending = s.Feed(std::span<const char>(reinterpret_cast<const char*>(data + pos), n));
    pos += n;
    // The edge's memory budget may take a message's content away midway.
    if (drop_content && s.in_data() && pos % 7 == 0) s.DropContent(replies::BufferFull());
  }
  return 0;
}
