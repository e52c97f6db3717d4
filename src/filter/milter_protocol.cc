#include "filter/milter_protocol.h"

#include <fmt/format.h>

namespace sluice::filter {
namespace {

void Put32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v >> 24));
  out->push_back(static_cast<char>(v >> 16));
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

uint32_t Get32(std::string_view s) {
  return static_cast<uint32_t>(static_cast<unsigned char>(s[0])) << 24 |
         static_cast<uint32_t>(static_cast<unsigned char>(s[1])) << 16 |
         static_cast<uint32_t>(static_cast<unsigned char>(s[2])) << 8 | static_cast<unsigned char>(s[3]);
}

std::string Packet(char command, std::string_view data) {
  std::string out;
  out.reserve(data.size() + 5);
  Put32(&out, static_cast<uint32_t>(data.size() + 1));
  out.push_back(command);
  out.append(data);
  return out;
}

// A string as the protocol carries it: NUL-terminated. A NUL inside is cut
// there: the filter could not tell it from the end.
void PutString(std::string* out, std::string_view s) {
  out->append(s.substr(0, s.find('\0')));
  out->push_back('\0');
}

std::string Strings(const std::vector<std::string>& args) {
  std::string data;
  for (const auto& a : args) PutString(&data, a);
  return data;
}

// Reads NUL-terminated strings from a packet's data, refusing any that
// runs past its end.
class Fields {
 public:
  explicit Fields(std::string_view data) : rest_(data) {}
  bool String(std::string* out) {
    const size_t nul = rest_.find('\0');
    if (nul == std::string_view::npos) return false;
    out->assign(rest_.substr(0, nul));
    rest_.remove_prefix(nul + 1);
    return true;
  }
  bool Int(uint32_t* out) {
    if (rest_.size() < 4) return false;
    *out = Get32(rest_);
    rest_.remove_prefix(4);
    return true;
  }
  bool empty() const { return rest_.empty(); }
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

// `allow_breaks`: CRLF or LF line breaks too (folded header values, multi-
// line reply codes); the header edits refold them (filter/message.h).
bool Printable(std::string_view s, bool allow_breaks) {
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = s[i];
    if (allow_breaks && c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      ++i;
      continue;
    }
    if (allow_breaks && c == '\n') continue;
    if (c < 0x20 && c != '\t') return false;
    if (c == 0x7f) return false;
  }
  return true;
}

// A header name: printable ASCII without a colon or space (RFC 5322 §2.2).
bool HeaderName(std::string_view s) {
  if (s.empty() || s.size() > 998) return false;
  for (unsigned char c : s) {
    if (c <= 32 || c >= 127 || c == ':') return false;
  }
  return true;
}

// "4xx" or "5xx" and then a space or '-' (a multi-line reply), every line
// with the same code.
bool ReplyText(std::string_view s) {
  if (s.size() < 4 || s.size() > 4096 || !Printable(s, true)) return false;
  for (size_t i = 0; i < s.size(); ++i) {  // it goes to the sender as it is: CRLF only
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return false;
  }
  if ((s[0] != '4' && s[0] != '5') || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9') return false;
  const std::string_view code = s.substr(0, 3);
  size_t pos = 0;
  for (;;) {
    if (s.substr(pos, 3) != code || pos + 3 >= s.size()) return false;
    const char sep = s[pos + 3];
    const size_t eol = s.find("\r\n", pos);
    if (eol == std::string_view::npos) return sep == ' ';
    if (sep != '-') return false;
    pos = eol + 2;
  }
}

}  // namespace

std::string MilterOptNeg(uint32_t actions, uint32_t steps) {
  std::string data;
  Put32(&data, kMilterVersion);
  Put32(&data, actions);
  Put32(&data, steps);
  return Packet('O', data);
}

std::string MilterConnect(std::string_view hostname, char family, uint16_t port, std::string_view address) {
  std::string data;
  PutString(&data, hostname);
  data.push_back(family);
  if (family != 'U') {
    data.push_back(static_cast<char>(port >> 8));
    data.push_back(static_cast<char>(port));
    PutString(&data, address);
  }
  return Packet('C', data);
}

std::string MilterHelo(std::string_view name) {
  std::string data;
  PutString(&data, name);
  return Packet('H', data);
}

std::string MilterMail(const std::vector<std::string>& args) { return Packet('M', Strings(args)); }
std::string MilterRcpt(const std::vector<std::string>& args) { return Packet('R', Strings(args)); }
std::string MilterData() { return Packet('T', ""); }

std::string MilterHeader(std::string_view name, std::string_view value) {
  std::string data;
  PutString(&data, name);
  PutString(&data, value);
  return Packet('L', data);
}

std::string MilterEndOfHeaders() { return Packet('N', ""); }
std::string MilterBody(std::string_view chunk) { return Packet('B', chunk.substr(0, kMilterChunk)); }
std::string MilterEndOfBody() { return Packet('E', ""); }
std::string MilterAbort() { return Packet('A', ""); }
std::string MilterQuit() { return Packet('Q', ""); }

std::string MilterMacros(char for_command, const std::vector<std::pair<std::string, std::string>>& macros) {
  std::string data(1, for_command);
  for (const auto& [name, value] : macros) {
    PutString(&data, name);
    PutString(&data, value);
  }
  return Packet('D', data);
}

std::optional<MilterReply> MilterReader::Next() {
  if (!error_.empty()) return std::nullopt;
  auto fail = [this](std::string why) -> std::optional<MilterReply> {
    error_ = std::move(why);
    buf_.clear();
    pos_ = 0;
    return std::nullopt;
  };
  if (buf_.size() - pos_ < 4) return std::nullopt;
  const uint32_t len = Get32(std::string_view(buf_).substr(pos_));
  if (len == 0) return fail("a packet without a command");
  if (len > kMaxMilterPacket) return fail(fmt::format("a packet of {} bytes, above the limit", len));
  if (buf_.size() - pos_ - 4 < len) return std::nullopt;
  const char command = buf_[pos_ + 4];
  const std::string_view data = std::string_view(buf_).substr(pos_ + 5, len - 1);
  MilterReply r;
  Fields f(data);
  using K = MilterReply::Kind;
  auto none = [&](K k) {
    r.kind = k;
    return data.empty();
  };
  bool ok = true;
  switch (command) {
    case 'c': ok = none(K::kContinue); break;
    case 'a': ok = none(K::kAccept); break;
    case 'r': ok = none(K::kReject); break;
    case 't': ok = none(K::kTempFail); break;
    case 'd': ok = none(K::kDiscard); break;
    case 's': ok = none(K::kSkip); break;
    case 'p': ok = none(K::kProgress); break;
    case 'f': ok = none(K::kConnectionFailure); break;
    case 'y':
      r.kind = K::kReplyCode;
      ok = f.String(&r.text) && f.empty() && ReplyText(r.text);
      break;
    case 'q':
      r.kind = K::kQuarantine;
      ok = f.String(&r.text) && f.empty() && r.text.size() <= 1024 && Printable(r.text, false);
      break;
    case 'h':
      r.kind = K::kAddHeader;
      ok = f.String(&r.name) && f.String(&r.value) && f.empty() && HeaderName(r.name) && Printable(r.value, true);
      break;
    case 'i':
    case 'm':
      r.kind = command == 'i' ? K::kInsertHeader : K::kChangeHeader;
      ok = f.Int(&r.index) && f.String(&r.name) && f.String(&r.value) && f.empty() && HeaderName(r.name) &&
           Printable(r.value, true);
      break;
    case 'b':
      r.kind = K::kReplaceBody;
      r.text.assign(data);
      break;
    case '+':
    case '-':
    case '2':
    case 'e':
      r.kind = command == '+' || command == '2' ? K::kAddRcpt : command == '-' ? K::kDeleteRcpt : K::kChangeFrom;
      ok = f.String(&r.text) && !r.text.empty() && r.text.size() <= 1024 && Printable(r.text, false);
      if (ok && (command == '2' || command == 'e') && !f.empty()) ok = f.String(&r.args) && Printable(r.args, false);
      ok = ok && f.empty();
      break;
    case 'O': {
      r.kind = K::kOptNeg;
      ok = f.Int(&r.version) && f.Int(&r.actions) && f.Int(&r.steps);
      while (ok && !f.empty()) {  // v6: the macros the filter wants, per stage
        uint32_t stage = 0;
        std::string names;
        ok = f.Int(&stage) && stage <= static_cast<uint32_t>(MacroStage::kEoh) && f.String(&names) &&
             Printable(names, false) && r.macros.size() < 8;
        if (ok) r.macros.emplace_back(static_cast<MacroStage>(stage), std::move(names));
      }
      break;
    }
    default:
      return fail(fmt::format("unknown reply '{}'", (command >= 0x20 && command < 0x7f) ? std::string(1, command)
                                                                                      : fmt::format("\\x{:02x}", static_cast<unsigned char>(command))));
  }
  if (!ok) return fail(fmt::format("malformed '{}' reply", command));
  pos_ += 4 + len;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return r;
}

}  // namespace sluice::filter
