// libFuzzer target: DSN parameters and replies into a report (queue/dsn.cc)
// and the report onto the wire (mail::DotStuff). Whatever a sender put in
// ENVID or ORCPT and whatever a peer answered, the report's own parts have
// no line ending but CRLF and no control byte, and nothing on the wire has
// a bare CR or LF; and content that is sent as it is (mail::SendsAsIs) is
// byte for byte what dot-stuffing would have sent.
#include <cstdlib>
#include <string>

#include "mail/content.h"
#include "mail/xtext.h"
#include "queue/dsn.h"

using namespace sluice;

static void Check(bool ok) {
  if (!ok) std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  // Four fields, split by NUL: envid, orcpt xtext, reply, content.
  std::string part[4];
  for (size_t i = 0, k = 0; i < in.size() && k < 4; ++i) {
    if (in[i] == '\0') {
      ++k;
    } else {
      part[k].push_back(in[i]);
    }
  }
  Envelope e;
  e.sender = "s@example.org";
  e.rcpt_to = {"a@ours.example"};
  e.routes = {{"a@ours.example", "t", "f", "local", ""}};
  e.dsn = {{"FAILURE", ""}};
  // What the edge lets through: only safe xtext reaches a report.
  if (mail::IsSafeXtext(part[0])) e.dsn_envid = part[0];
  if (mail::IsSafeXtext(part[1])) e.dsn[0].orcpt = "rfc822;" + part[1];
  queue::DsnInput d;
  d.reporting_mta = "mx.example";
  d.queue_id = "0123456789ABCDEF01";
  d.envelope = &e;
  d.content = part[3];
  d.recipients = {{0, queue::DsnAction::kFailed, part[2], "peer.example", 1}};
  d.now_unix = 1'790'000'000;
  const std::string report = queue::MakeDsn(d);
  // Up to the third part (the original, which may be anything) the report
  // is ours: CRLF lines, TAB only as folding, no other control byte.
  const size_t original = report.find("Content-Description: Undelivered message");
  const std::string own = report.substr(0, original);
  for (size_t i = 0; i < own.size(); ++i) {
    const unsigned char c = own[i];
    if (c == '\r') Check(i + 1 < own.size() && own[i + 1] == '\n');
    else if (c == '\n') Check(i > 0 && own[i - 1] == '\r');
    else Check(c >= 0x20 || c == '\t');
    Check(c != 0x7F);
  }
  const std::string wire = mail::DotStuff(report);
  for (size_t i = 0; i < wire.size(); ++i) {
    if (wire[i] == '\r') Check(i + 1 < wire.size() && wire[i + 1] == '\n');
    if (wire[i] == '\n') Check(i > 0 && wire[i - 1] == '\r');
  }
  Check(wire.size() >= 5 && wire.compare(wire.size() - 5, 5, "\r\n.\r\n") == 0);
  // What goes out without a copy is exactly what dot-stuffing would send.
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  if (mail::SendsAsIs(raw)) Check(mail::DotStuff(raw) == std::string(raw) + ".\r\n");
  if (mail::SendsAsIs(report)) Check(wire == report + ".\r\n");
  return 0;
}
