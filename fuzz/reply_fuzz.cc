// libFuzzer target: a next hop's reply, line by line, into mail::ReplyReader
// (what delivery reads from every SMTP and LMTP peer). Asserts the reader's
// contract: bounded, one code per reply, and only safe text comes out.
#include <cstdlib>
#include <string_view>

#include "mail/reply_line.h"
#include "mail/text.h"

using namespace sluice::mail;

static void Check(bool ok) {
  if (!ok) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ReplyLimits limits;
  limits.max_lines = 20;
  limits.max_bytes = 2048;
  ReplyReader reader(limits);
  size_t lines = 0;
  ReplyReader::State state = ReplyReader::State::kMore;
  while (!in.empty() && state == ReplyReader::State::kMore) {
    size_t end = in.find("\r\n");
    std::string_view line = in.substr(0, end);
    in.remove_prefix(end == std::string_view::npos ? in.size() : end + 2);
    ReplyLine parsed = ParseReplyLine(line);
    if (parsed.code != 0) {
      Check(parsed.code >= 200 && parsed.code <= 599);
      Check(parsed.enhanced.empty() || parsed.enhanced[0] == line[0]);
    }
    state = reader.Add(line);
    ++lines;
    Check(lines <= limits.max_lines + 1);
  }
  if (state == ReplyReader::State::kDone) {
    Check(reader.code() >= 200 && reader.code() <= 599);
    Check(!reader.lines().empty() && reader.lines().size() <= limits.max_lines);
    Check(IsValidUtf8(reader.text()) && !HasControl(reader.text()));
    for (const auto& l : reader.lines()) Check(IsValidUtf8(l) && !HasControl(l));
  } else if (state != ReplyReader::State::kMore) {
    Check(!reader.error().empty() && IsValidUtf8(reader.error()) && !HasControl(reader.error()));
  }
  // Whatever the input, safe text is safe and bounded.
  std::string safe = SafeText(std::string_view(reinterpret_cast<const char*>(data), size), 100);
  Check(IsValidUtf8(safe) && !HasControl(safe) && safe.size() <= 103);
  Check(IsValidUtf8(ToValidUtf8(std::string_view(reinterpret_cast<const char*>(data), size))));
  return 0;
}
