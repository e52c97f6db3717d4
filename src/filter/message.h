// A message as the milter stages see it: its header fields one by one and
// its body, and the edits a filter may ask for (add, insert, change or
// delete a field; replace the body). Pure, no I/O.
//
// Content is what the edge stores: CRLF lines, dot-stuffing undone. A field
// is a name, a colon and a value that may be folded over lines that start
// with white space (RFC 5322 §2.2); the value is kept as it came, folding
// and the space after the colon included, so an untouched field comes out
// byte for byte.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::filter {

struct HeaderField {
  std::string name;
  std::string value;  // after the colon: " v", folding kept as CRLF + WSP
};

struct Message {
  std::vector<HeaderField> fields;
  std::string body;  // after the blank line; empty if there is none
  // Lines before the body that are not fields (no colon, a bad name): kept
  // in place as they came, so nothing a sender wrote is lost. Rare.
  bool malformed = false;
};

// Splits stored content; never fails (a line that is not a field ends the
// header section there, and the rest is the body, as a parser must).
Message SplitMessage(std::string_view content);
// The content back: fields, a blank line, the body.
std::string JoinMessage(const Message& m);

// The value as a milter stage gets it: without the one leading space, and
// folding as LF + WSP (what Postfix's milter8 sends).
std::string MilterValue(std::string_view stored_value);
// A value from a filter ("v", with LF or CRLF folding) as stored: " v",
// CRLF folding. Continuation lines without leading white space get a tab,
// so a value can never start a new field.
std::string StoredValue(std::string_view milter_value);

// The edits (SMFIR_ADDHEADER, INSHEADER, CHGHEADER). Names compare
// case-insensitively.
void AddField(Message& m, std::string_view name, std::string_view milter_value);
// Before the index-th field (0: topmost); past the end: at the end.
void InsertField(Message& m, uint32_t index, std::string_view name, std::string_view milter_value);
// The index-th field called `name` (1-based); an empty value deletes it.
// If there are fewer such fields, a non-empty value is added at the end
// (as sendmail and Postfix do).
void ChangeField(Message& m, uint32_t index, std::string_view name, std::string_view milter_value);
// A replacement body from a filter: bare LF or CR become CRLF.
std::string NormalizeBody(std::string_view body);

// The first field called `name`'s value without the leading space and
// with folding undone; empty if there is none.
std::string FieldValue(const Message& m, std::string_view name);

// The spam score a filter wrote into a field it added, if the field is one
// the common filters use: X-Spam-Score ("12.3"), X-Spamd-Result (rspamd:
// "default: True [12.30 / 15.00]; ..."), X-Spam-Status (SpamAssassin:
// "Yes, score=12.3 required=5.0 ..."). Names are case-insensitive.
std::optional<double> SpamScore(std::string_view name, std::string_view value);

}  // namespace sluice::filter
