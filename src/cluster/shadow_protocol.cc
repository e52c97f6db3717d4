#include "cluster/shadow_protocol.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>

namespace sluice::cluster {
namespace {

std::string Hex(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 15];
  }
  return out;
}

std::vector<std::string> Words(std::string_view line) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < line.size()) {
    size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    if (end > pos) out.emplace_back(line.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

bool Size(const std::string& s, size_t max, size_t* out) {
  if (s.empty() || s.size() > 12) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out <= max;
}

}  // namespace

bool ShadowName(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<ShadowFrame> ShadowParser::Next() {
  if (!error_.empty()) return std::nullopt;
  auto fail = [this](std::string why) -> std::optional<ShadowFrame> {
    error_ = std::move(why);
    buf_.clear();
    pos_ = 0;
    pending_.reset();
    return std::nullopt;
  };
  if (pending_) {  // a COPY's, TAKE's or id list's payload
    if (buf_.size() - pos_ < envelope_len_ + content_len_) return std::nullopt;
    pending_->envelope.assign(buf_, pos_, envelope_len_);
    pending_->content.assign(buf_, pos_ + envelope_len_, content_len_);
    pos_ += envelope_len_ + content_len_;
    if (pending_->verb == "DISCARD" || pending_->verb == "TAKEN") {
      std::string_view rest = pending_->content;
      while (!rest.empty()) {
        const size_t lf = rest.find('\n');
        if (lf == std::string_view::npos) return fail(pending_->verb + ": ids must end in LF");
        if (!ShadowName(rest.substr(0, lf))) return fail(pending_->verb + ": not an id");
        pending_->ids.emplace_back(rest.substr(0, lf));
        rest.remove_prefix(lf + 1);
      }
      pending_->content.clear();
    }
    std::optional<ShadowFrame> out = std::move(pending_);
    pending_.reset();
    buf_.erase(0, pos_);
    pos_ = 0;
    return out;
  }
  const size_t eol = buf_.find("\r\n", pos_);
  if (eol == std::string::npos) {
    if (buf_.size() - pos_ > kMaxShadowLine) return fail("line too long");
    return std::nullopt;
  }
  if (eol - pos_ + 2 > kMaxShadowLine) return fail("line too long");
  const std::string line = buf_.substr(pos_, eol - pos_);
  pos_ = eol + 2;
  ShadowFrame f;
  const size_t space = line.find(' ');
  f.verb = line.substr(0, space);
  if (f.verb == "NO") {  // a reason, as text
    if (space != std::string::npos) f.args.push_back(line.substr(space + 1));
  } else {
    auto words = Words(line);
    if (words.empty()) return fail("empty line");
    f.args.assign(words.begin() + 1, words.end());
  }
  for (char c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return fail("not printable ASCII");
  }
  auto names = [&](size_t n) {
    if (f.args.size() < n) return false;
    for (size_t i = 0; i < n; ++i) {
      if (!ShadowName(f.args[i])) return false;
    }
    return true;
  };
  if (f.verb == "SHADOW" || f.verb == "AUTH") {
    const size_t want = f.verb == "AUTH" ? 2 : 1;  // AUTH: the proof and the primary's own nonce
    bool hex = f.args.size() == want;
    for (const auto& a : f.args) hex = hex && a.size() <= 128 && a.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!hex) return fail(f.verb + (want == 2 ? ": expected two hex words" : ": expected one hex word"));
  } else if (f.verb == "HELLO") {
    if (f.args.size() != 2 || !names(2)) return fail("HELLO: expected a node and an epoch");
  } else if (f.verb == "COPY" || f.verb == "TAKE") {
    if (f.args.size() != 5 || !names(3) || !Size(f.args[3], kMaxShadowEnvelope, &envelope_len_) ||
        !Size(f.args[4], max_content_, &content_len_)) {
      return fail(f.verb + ": expected node, epoch, id and two sizes within the limits");
    }
    pending_ = std::move(f);
    buf_.erase(0, pos_);
    pos_ = 0;
    return Next();
  } else if (f.verb == "DISCARD" || f.verb == "TAKEN") {
    const size_t words = f.verb == "DISCARD" ? 3 : 1;
    envelope_len_ = 0;
    // Like a COPY's content, a list is refused before the secret is proven.
    if (f.args.size() != words || !names(words - 1) ||
        !Size(f.args[words - 1], std::min(kMaxShadowList, max_content_), &content_len_)) {
      return fail(f.verb + ": expected " + (words == 3 ? "node, epoch and " : "") + "a size within the limit");
    }
    pending_ = std::move(f);
    buf_.erase(0, pos_);
    pos_ = 0;
    return Next();
  } else if (f.verb == "OK") {
    if (f.args.size() > 1) return fail("OK: at most one word");
  } else if (f.verb != "NO") {
    return fail("unknown verb");
  }
  if (pos_ > 4096) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return f;
}

std::string ShadowLine(std::string_view verb, const std::vector<std::string>& args) {
  std::string out(verb);
  for (const auto& a : args) (out += ' ') += a;
  return out + "\r\n";
}

std::string ShadowCopyHead(const std::string& node, const std::string& epoch, const std::string& id,
                           std::string_view envelope, size_t content_size, std::string_view verb) {
  std::string out = fmt::format("{} {} {} {} {} {}\r\n", verb, node, epoch, id, envelope.size(), content_size);
  out.append(envelope);
  return out;
}

std::string ShadowIdList(std::string_view verb, const std::vector<std::string>& head,
                         const std::vector<std::string>& ids) {
  std::string list;
  for (const auto& id : ids) (list += id) += '\n';
  std::vector<std::string> args = head;
  args.push_back(std::to_string(list.size()));
  return ShadowLine(verb, args) + list;
}

std::string ShadowNonce() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) return std::string(32, '0');  // never on a working system; the proof then fails
  return Hex(b, sizeof b);
}

std::string ShadowProof(const std::string& secret, const std::string& nonce) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(nonce.data()), nonce.size(), md, &n);
  return Hex(md, n);
}

bool ShadowVerify(const std::string& secret, const std::string& nonce, const std::string& proof) {
  const std::string want = ShadowProof(secret, nonce);
  return proof.size() == want.size() && CRYPTO_memcmp(proof.data(), want.data(), want.size()) == 0;
}

}  // namespace sluice::cluster
