#include "spool/record_format.h"

namespace sluice::spool {
namespace {

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutString(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

// Reads from a record; every getter fails (returns false) rather than read
// past the end, so a truncated or corrupt record is reported, not trusted.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return false;
      auto b = static_cast<uint8_t>(in_.front());
      in_.remove_prefix(1);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  bool String(std::string* s) {
    uint64_t n;
    if (!Varint(&n) || n > in_.size()) return false;
    s->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool Done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

// Varints carry signed times as zig-zag.
uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

}  // namespace

std::string Key(char prefix, std::string_view id) {
  std::string k;
  k.reserve(id.size() + 1);
  k.push_back(prefix);
  k.append(id);
  return k;
}

std::string EncodeEnvelope(const Envelope& e, std::string_view header) {
  std::string out;
  out.push_back(static_cast<char>(kFormatVersion));
  PutString(&out, e.sender);
  PutString(&out, e.helo);
  PutString(&out, e.client_address);
  PutVarint(&out, (e.esmtp ? 1u : 0u) | (e.body_8bit ? 2u : 0u) | (e.tls ? 4u : 0u) |
                      (e.smtputf8 ? 8u : 0u));
  PutString(&out, e.dsn_ret);
  PutString(&out, e.dsn_envid);
  PutVarint(&out, ZigZag(e.received_unix));
  PutVarint(&out, e.routes.size());
  for (size_t i = 0; i < e.routes.size(); ++i) {
    const RecipientRoute& r = e.routes[i];
    PutString(&out, e.rcpt_to[i]);
    PutString(&out, r.address);
    PutString(&out, r.tenant);
    PutString(&out, r.forest);
    PutString(&out, r.destination);
    PutString(&out, r.mailbox);
    const RecipientDsn none;
    const RecipientDsn& d = i < e.dsn.size() ? e.dsn[i] : none;
    PutString(&out, d.notify);
    PutString(&out, d.orcpt);
  }
  PutString(&out, header);
  // Added with the quarantine: absent in older records, read as empty.
  if (!e.quarantine.empty()) PutString(&out, e.quarantine);
  return out;
}

bool DecodeEnvelope(std::string_view in, Envelope* e, std::string* header) {
  if (in.empty() || static_cast<uint8_t>(in.front()) != kFormatVersion) return false;
  Reader r(in.substr(1));
  uint64_t flags, when, n;
  if (!r.String(&e->sender) || !r.String(&e->helo) || !r.String(&e->client_address) ||
      !r.Varint(&flags) || !r.String(&e->dsn_ret) || !r.String(&e->dsn_envid) ||
      !r.Varint(&when) || !r.Varint(&n) || n > 100'000) {
    return false;
  }
  e->esmtp = flags & 1;
  e->body_8bit = flags & 2;
  e->tls = flags & 4;
  e->smtputf8 = flags & 8;
  e->received_unix = UnZigZag(when);
  e->rcpt_to.resize(n);
  e->routes.resize(n);
  e->dsn.resize(n);
  for (size_t i = 0; i < n; ++i) {
    RecipientRoute& route = e->routes[i];
    if (!r.String(&e->rcpt_to[i]) || !r.String(&route.address) || !r.String(&route.tenant) ||
        !r.String(&route.forest) || !r.String(&route.destination) || !r.String(&route.mailbox) ||
        !r.String(&e->dsn[i].notify) || !r.String(&e->dsn[i].orcpt)) {
      return false;
    }
  }
  if (!r.String(header)) return false;
  if (!r.Done() && !r.String(&e->quarantine)) return false;
  return r.Done();
}

std::string EncodeRecipients(const std::vector<RecipientStatus>& rs) {
  std::string out;
  out.push_back(static_cast<char>(kRecipientsFormat));
  PutVarint(&out, rs.size());
  for (const RecipientStatus& s : rs) {
    PutVarint(&out, static_cast<uint8_t>(s.state));
    PutVarint(&out, s.attempts);
    PutVarint(&out, ZigZag(s.next_attempt_unix));
    PutString(&out, s.last_reply);
    PutVarint(&out, s.delay_warned ? 1u : 0u);
  }
  return out;
}

std::optional<std::vector<RecipientStatus>> DecodeRecipients(std::string_view in) {
  if (in.empty()) return std::nullopt;
  const uint8_t format = static_cast<uint8_t>(in.front());
  if (format != 1 && format != kRecipientsFormat) return std::nullopt;
  Reader r(in.substr(1));
  uint64_t n;
  if (!r.Varint(&n) || n > 100'000) return std::nullopt;
  std::vector<RecipientStatus> out(n);
  for (RecipientStatus& s : out) {
    uint64_t state, attempts, next, flags = 0;
    if (!r.Varint(&state) || state > (format == 1 ? 2 : 3) || !r.Varint(&attempts) ||
        !r.Varint(&next) || !r.String(&s.last_reply) || (format >= 2 && !r.Varint(&flags))) {
      return std::nullopt;
    }
    s.delay_warned = flags & 1;
    s.state = static_cast<RecipientState>(state);
    s.attempts = static_cast<uint32_t>(attempts);
    s.next_attempt_unix = UnZigZag(next);
  }
  if (!r.Done()) return std::nullopt;
  return out;
}

}  // namespace sluice::spool
