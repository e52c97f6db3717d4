// The SMTP server protocol as a sans-I/O state machine (DESIGN.md rule 6):
// bytes in, replies and actions out. It never blocks, owns no socket or
// timer, and is driven by server/ (or a test, or a fuzzer).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/envelope.h"
#include "common/status.h"
#include "directory/lookup.h"
#include "smtp/reply.h"

namespace sluice::smtp {

// What to do with a message whose lines end in a bare CR or LF
// (the SMTP smuggling family, CVE-2023-51764).
enum class BareLineEndings { kReject };

struct SessionOptions {
  std::string hostname = "localhost";
  size_t max_message_size = 36 * 1024 * 1024;  // bytes; advertised in EHLO SIZE
  size_t max_recipients = 1000;                // above it: 452 4.5.3
  size_t max_command_line = 512;               // RFC 5321 §4.5.3.1.4, CRLF included
  size_t max_text_line = 1000;                 // RFC 5321 §4.5.3.1.6, CRLF included
  size_t max_errors = 20;                      // then 421 4.7.0 and close
  BareLineEndings bare_line_endings = BareLineEndings::kReject;
};

// Actions the session asks its driver to carry out, in order.
struct LookupRecipient {  // answer with Resume(directory::LookupResult)
  std::string address;    // canonical form of the RCPT TO mailbox
};
struct StoreMessage {     // answer with Resume(StoreResult)
  Envelope envelope;
  std::string body;       // as received: CRLF lines, dot-stuffing undone
};
struct Close {};          // send pending replies, then close the connection
using Action = std::variant<Reply, LookupRecipient, StoreMessage, Close>;

struct StoreResult {
  Status status;
  std::string queue_id;  // set when status is OK
};

struct ClientInfo {
  std::string address;  // the peer's IP address, for Received: and logs
};

class Session {
 public:
  Session(std::shared_ptr<const SessionOptions> options, ClientInfo client);

  // The greeting. Call once, first.
  std::vector<Action> Start();
  // Bytes from the client. Never blocks; buffers what it cannot use yet.
  // While a LookupRecipient or StoreMessage is outstanding, input is only
  // buffered (pipelined commands wait their turn, RFC 2920).
  std::vector<Action> Feed(std::span<const char> bytes);
  // Answers to the outstanding action; they continue with buffered input.
  std::vector<Action> Resume(const directory::LookupResult& result);
  std::vector<Action> Resume(const StoreResult& result);

  // True once the session has asked to close; feed it nothing after that.
  bool closed() const { return closed_; }
  // True while an action's answer is outstanding.
  bool waiting() const { return waiting_ != Waiting::kNothing; }
  // True between the 354 and the end-of-data dot.
  bool in_data() const { return state_ == State::kData; }
  // True while a transaction (MAIL accepted) is in progress.
  bool in_transaction() const { return state_ == State::kMail || state_ == State::kRcpt || state_ == State::kData; }

  // Statistics for the transaction log line.
  size_t recipients_accepted() const { return envelope_.rcpt_to.size(); }

 private:
  enum class State { kConnected, kGreeted, kMail, kRcpt, kData };
  enum class Waiting { kNothing, kLookup, kStore };

  // One row of the command table (STYLE.md §3).
  struct Command {
    const char* verb;
    void (Session::*handler)(std::string_view arg);
  };
  static const Command kCommands[];

  void Pump();                      // process buffered input until blocked
  bool PumpCommand();               // false when more input is needed
  bool PumpData();                  // false when more input is needed
  void Dispatch(std::string_view line);
  void FinishData();
  void ResetTransaction();
  void Emit(Reply r);
  void Error(Reply r);              // a 5xx for a client error; counts errors
  void CloseWith(Reply r);

  void OnHelo(std::string_view arg);
  void OnEhlo(std::string_view arg);
  void OnMail(std::string_view arg);
  void OnRcpt(std::string_view arg);
  void OnData(std::string_view arg);
  void OnRset(std::string_view arg);
  void OnNoop(std::string_view arg);
  void OnQuit(std::string_view arg);
  void OnVrfy(std::string_view arg);
  void OnHelp(std::string_view arg);
  void OnExpn(std::string_view arg);
  void Greet(std::string_view arg, bool esmtp);

  std::shared_ptr<const SessionOptions> options_;
  ClientInfo client_;
  State state_ = State::kConnected;
  Waiting waiting_ = Waiting::kNothing;
  bool closed_ = false;
  size_t errors_ = 0;
  std::string helo_;  // from the last HELO/EHLO
  bool esmtp_ = false;

  std::string in_;     // unconsumed input
  size_t pos_ = 0;     // first unconsumed byte of in_
  bool skipping_line_ = false;  // discarding the rest of an overlong command

  // The transaction.
  Envelope envelope_;
  std::string pending_rcpt_;   // RCPT TO mailbox awaiting its lookup
  size_t rcpt_attempts_ = 0;   // RCPT commands that reached a lookup

  // DATA state.
  std::string body_;
  bool at_line_start_ = true;
  size_t line_len_ = 0;
  bool oversize_ = false;
  bool bare_line_ending_ = false;
  bool long_line_ = false;

  std::vector<Action> out_;
};

}  // namespace sluice::smtp
