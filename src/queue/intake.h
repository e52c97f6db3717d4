// The intake: how a message accepted at the edge becomes the queue's.
// Gives it its queue id and Received: header, commits it through the
// spool's writer (the edge answers 250 only once that sync returned) and
// hands it, content and all, to the queue — so the edge knows the
// directory and the intake, and nothing of the spool or the queue.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/envelope.h"
#include "common/status.h"

namespace sluice::spool {
class Spool;
}

namespace sluice::queue {

class Queue;

struct Accepted {
  Status status;   // OK: synced and queued; kNoSpace: 452 4.3.1; else 451 4.3.0
  std::string id;  // the queue id, also on failure (for the log)
  bool not_redundant = false;  // shadow "required" and no peer took a copy: 451 4.4.0
  bool shadowed = false;       // a peer synced a copy before the answer
  std::string shadow_peer;     // which, or why none
};

// What a listener asks of the shadow copy ([shadow], per listener).
enum class ShadowMode {
  kOff,         // no copy
  kBestEffort,  // a copy if a peer takes it within the deadline, else accept without
  kRequired,    // no copy, no 250: 451 4.4.0
};

// Hands a copy of a message to a peer before the edge answers 250
// (cluster/shadow.h). Copy may be called from any thread; `done` runs
// once, on any thread, with OK only once a peer synced the copy.
class Redundancy {
 public:
  virtual ~Redundancy() = default;
  virtual void Copy(const std::string& id, std::shared_ptr<const Envelope> envelope,
                    std::shared_ptr<const std::string> content, std::function<void(Status, std::string peer)> done) = 0;
  // How long the edge waits for it, beside its own commit.
  virtual std::chrono::milliseconds deadline() const = 0;
  // True while this node is drained to its peers: new mail is refused.
  virtual bool draining() const { return false; }
};

// What the content filters decided, for the intake to record.
struct Disposition {
  std::string fields;  // trace fields placed after Received: (the verdict header), CRLF-terminated
  // Non-empty: the message goes into quarantine for this reason — committed
  // with every recipient held, delivered only once an operator releases it.
  std::string quarantine;
};

class Intake {
 public:
  virtual ~Intake() = default;
  // May a transaction of `bytes` (0: unknown) start? Cheap; asked at MAIL.
  // kNoSpace: 452 4.3.1; kUnavailable: the node is draining, 451 4.3.2.
  virtual Status CheckRoom(uint64_t bytes) = 0;
  // Stamps, commits and queues. `envelope.received_unix` is set here.
  // Resumes on the caller's executor; the body is moved, never copied but
  // once (behind the trace header).
  // With a Redundancy and `shadow` not off, the copy to a peer runs beside
  // the local commit; "required" without a copy removes the local one and
  // queues nothing.
  virtual boost::asio::awaitable<Accepted> Accept(Envelope envelope, std::string body,
                                                  ShadowMode shadow = ShadowMode::kOff, Disposition d = {}) = 0;
};

// `hostname` names this node in the Received: header. `redundancy`: the
// shadow copies, or null (none); it outlives the intake.
std::unique_ptr<Intake> MakeIntake(spool::Spool& spool, Queue& queue, std::string hostname,
                                   Redundancy* redundancy = nullptr);

}  // namespace sluice::queue
