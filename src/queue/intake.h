// The intake: how a message accepted at the edge becomes the queue's.
// Gives it its queue id and Received: header, commits it through the
// spool's writer (the edge answers 250 only once that sync returned) and
// hands it, content and all, to the queue — so the edge knows the
// directory and the intake, and nothing of the spool or the queue.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
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
};

class Intake {
 public:
  virtual ~Intake() = default;
  // May a transaction of `bytes` (0: unknown) start? Cheap; asked at MAIL.
  virtual Status CheckRoom(uint64_t bytes) = 0;
  // Stamps, commits and queues. `envelope.received_unix` is set here.
  // Resumes on the caller's executor; the body is moved, never copied but
  // once (behind the trace header).
  virtual boost::asio::awaitable<Accepted> Accept(Envelope envelope, std::string body) = 0;
};

// `hostname` names this node in the Received: header.
std::unique_ptr<Intake> MakeIntake(spool::Spool& spool, Queue& queue, std::string hostname);

}  // namespace sluice::queue
