// The SMTP server protocol as a sans-I/O state machine (doc/design.md, rule 6):
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
#include "smtp/line_check.h"
#include "smtp/reply.h"

namespace sluice::smtp {

// What to do with a message whose lines end in a bare CR or LF
// (the SMTP smuggling family, CVE-2023-51764).
enum class BareLineEndings {
  kReject,     // 550 5.6.0 at the end of data (default)
  kNormalize,  // rewrite them as CRLF and accept
};

struct SessionOptions {
  std::string hostname = "localhost";
  size_t max_message_size = 36 * 1024 * 1024;  // bytes; advertised in EHLO SIZE
  size_t max_recipients = 1000;                // above it: 452 4.5.3
  size_t max_command_line = 512;               // RFC 5321 §4.5.3.1.4, CRLF included
  size_t max_text_line = 1000;                 // RFC 5321 §4.5.3.1.6, CRLF included
  size_t max_errors = 20;                      // then 421 4.7.0 and close
  BareLineEndings bare_line_endings = BareLineEndings::kReject;
  bool starttls = false;     // offer STARTTLS (RFC 3207): a certificate is loaded
  bool require_tls = false;  // MAIL before STARTTLS gets 530 5.7.0 (submission)
  bool chunking = true;      // CHUNKING/BDAT (RFC 3030)
  bool smtputf8 = true;      // SMTPUTF8 (RFC 6531)
  bool dsn = true;           // DSN parameters (RFC 3461)
  bool operator==(const SessionOptions&) const = default;
};

// Actions the session asks its driver to carry out, in order.
struct LookupRecipient {  // answer with Resume(directory::LookupResult)
  std::string address;    // canonical form of the RCPT TO mailbox
};
struct StoreMessage {     // answer with Resume(StoreResult)
  Envelope envelope;
  std::string body;       // as received: CRLF lines, dot-stuffing undone
};
struct AdmitMail {        // answer with Resume(AdmitResult): may a transaction start?
  size_t declared_size = 0;  // the SIZE parameter (RFC 1870), 0 when not given
  std::string sender;        // the reverse-path, empty for <>
};
struct StartTls {};       // send pending replies, handshake, then Resume(TlsResult)
struct Close {};          // send pending replies, then close the connection
using Action = std::variant<Reply, LookupRecipient, StoreMessage, StartTls, Close, AdmitMail>;

// The driver's verdict on AdmitMail: a refusal (e.g. 452 4.3.1 while the
// spool is short of space), or code 0 to let the transaction start.
struct AdmitResult {
  Reply refusal;
};

struct StoreResult {
  Status status;
  std::string queue_id;        // set when status is OK
  bool not_redundant = false;  // no peer took the shadow copy "required": 451 4.4.0
  Reply reply;                 // code != 0: said instead (a content filter's verdict)
};

struct TlsResult {
  bool ok = false;  // false: the handshake failed; the driver closes
};

struct ClientInfo {
  std::string address;  // the peer's IP address, for Received: and logs
};

class Session {
 public:
  Session(std::shared_ptr<const SessionOptions> options, ClientInfo client);

  // Before Start: the client is refused (RFC 5321 §3.1): `greeting` (a
  // 554) instead of the 220, then 503 to everything but QUIT, and the
  // session closes after max_errors of them.
  void RefuseService(Reply greeting) { refusal_ = std::move(greeting); }
  // The greeting. Call once, first.
  std::vector<Action> Start();
  // Bytes from the client. Never blocks; buffers what it cannot use yet.
  // While an action's answer is outstanding, input is only buffered
  // (pipelined commands wait their turn, RFC 2920).
  std::vector<Action> Feed(std::span<const char> bytes);
  // Answers to the outstanding action; they continue with buffered input.
  std::vector<Action> Resume(const directory::LookupResult& result);
  std::vector<Action> Resume(const StoreResult& result);
  std::vector<Action> Resume(const TlsResult& result);
  std::vector<Action> Resume(const AdmitResult& result);
  // The server is going away: 421 4.3.2 and close.
  std::vector<Action> Shutdown();

  // True once the session has asked to close; feed it nothing after that.
  bool closed() const { return closed_; }
  // True while an action's answer is outstanding.
  bool waiting() const { return waiting_ != Waiting::kNothing; }
  // True while message content is being received (DATA or a BDAT chunk).
  bool in_data() const { return state_ == State::kData || state_ == State::kChunk; }
  // True while a transaction (MAIL accepted) is in progress.
  bool in_transaction() const { return state_ != State::kConnected && state_ != State::kGreeted; }
  bool tls_active() const { return tls_; }
  // Bytes this session holds for the message being received (the body and
  // unconsumed input, as allocated): what the edge's memory budget charges.
  size_t buffered_bytes() const { return body_.capacity() + in_.capacity(); }
  // The driver could not find memory for this message: drop what is held,
  // read the rest of the content without keeping it, and answer `refusal`
  // at its end. The session stays in step with the client.
  void DropContent(Reply refusal);
  // True while message content is arriving and being kept (not refused).
  bool keeping_content() const { return in_data() && content_refusal_.code == 0; }

 private:
  enum class State { kConnected, kGreeted, kMail, kRcpt, kData, kChunk };
  enum class Waiting { kNothing, kLookup, kStore, kTls, kAdmit };

  // One row of the command table (doc/design.md, convention 3).
  struct Command {
    const char* verb;
    void (Session::*handler)(std::string_view arg);
    unsigned flags;
  };
  static const Command kCommands[];
  static const size_t kCommandCount;

 public:
  // The rules of a command, as data (a test enumerates them):
  static constexpr unsigned kUtf8Args = 1;   // may carry UTF-8 with SMTPUTF8 (MAIL, RCPT)
  static constexpr unsigned kBeforeTls = 2;  // allowed before STARTTLS where TLS is required
  static constexpr unsigned kEndsGroup = 4;  // last of a pipelined group (RFC 2920 §3.1, RFC 3207)
  // Each verb the session knows with its flags.
  static std::vector<std::pair<std::string, unsigned>> CommandRules();

 private:

  void Pump();                      // process buffered input until blocked
  bool PumpCommand();               // false when more input is needed
  bool PumpData();                  // DATA content; false when more input is needed
  bool PumpChunk();                 // BDAT content; false when more input is needed
  void Dispatch(std::string_view line);
  void AppendContent(std::string_view bytes);
  void FinishContent();             // the message is complete: refuse or store it
  void FinishChunk();
  void ResetTransaction();
  void Emit(Reply r);
  void Error(Reply r);              // a 5xx for a client error; counts errors
  void CloseWith(Reply r);

  void OnHelo(std::string_view arg);
  void OnEhlo(std::string_view arg);
  void OnMail(std::string_view arg);
  void OnRcpt(std::string_view arg);
  void OnData(std::string_view arg);
  void OnBdat(std::string_view arg);
  void OnRset(std::string_view arg);
  void OnNoop(std::string_view arg);
  void OnQuit(std::string_view arg);
  void OnVrfy(std::string_view arg);
  void OnHelp(std::string_view arg);
  void OnExpn(std::string_view arg);
  void OnStartTls(std::string_view arg);
  void Greet(std::string_view arg, bool esmtp);
  Reply ContentNotReady() const;

  std::shared_ptr<const SessionOptions> options_;
  ClientInfo client_;
  Reply refusal_;  // code 0: service offered
  State state_ = State::kConnected;
  Waiting waiting_ = Waiting::kNothing;
  bool closed_ = false;
  bool tls_ = false;
  size_t errors_ = 0;
  std::string helo_;  // from the last HELO/EHLO
  bool esmtp_ = false;

  std::string in_;     // unconsumed input
  size_t pos_ = 0;     // first unconsumed byte of in_
  bool skipping_line_ = false;  // discarding the rest of an overlong command

  // The transaction.
  Envelope envelope_;
  std::string pending_rcpt_;   // RCPT TO mailbox awaiting its lookup
  RecipientDsn pending_dsn_;
  size_t rcpt_attempts_ = 0;   // RCPT commands that reached a lookup
  size_t declared_size_ = 0;   // MAIL's SIZE parameter: the body is reserved for it
  bool chunked_ = false;       // the transaction uses BDAT, so DATA is out

  // Content state, for DATA and BDAT alike.
  std::string body_;
  LineCheck line_check_;
  Reply content_refusal_;      // set: keep nothing more, answer this at the end (size, memory)
  bool at_line_start_ = true;  // DATA: where a dot may be stuffing or the end
  size_t chunk_left_ = 0;      // BDAT: octets of the current chunk still to come
  bool chunk_last_ = false;
  Reply chunk_refusal_;        // BDAT: the answer owed once the chunk is read
  State before_chunk_ = State::kConnected;

  std::vector<Action> out_;
};

}  // namespace sluice::smtp
