// libFuzzer target: the MAIL/RCPT argument parser and the mailbox checks.
#include <cstdlib>
#include <string>

#include "smtp/address.h"
#include "mail/address.h"
#include "mail/text.h"
#include "mail/xtext.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sluice::smtp;
  if (size < 1) return 0;
  const bool utf8 = data[0] & 1;
  std::string arg(reinterpret_cast<const char*>(data + 1), size - 1);
  auto r = ParsePathArgument(arg, "FROM", true, SyntaxError::kBadSender, utf8);
  if (auto* p = std::get_if<PathArgument>(&r)) {
    // What the parser accepts is a valid mailbox (or the null path), and
    // canonicalization keeps its length.
    if (!p->address.empty()) {
      if (!sluice::mail::IsValidMailbox(p->address, utf8)) std::abort();
      if (sluice::mail::CanonicalAddress(p->address).size() != p->address.size()) std::abort();
      if (utf8 && !sluice::mail::IsValidUtf8(p->address)) std::abort();
    }
    for (const auto& [k, v] : p->params) {
      if (k.empty()) std::abort();
    }
  }
  if (sluice::mail::IsValidXtext(arg) && sluice::mail::DecodeXtext(arg).size() > arg.size()) std::abort();
  if (sluice::mail::IsSafeXtext(arg) && sluice::mail::HasControl(sluice::mail::DecodeXtext(arg))) std::abort();
  sluice::mail::IsValidDomain(arg, utf8);
  return 0;
}
