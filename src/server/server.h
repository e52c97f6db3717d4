// The SMTP edge's I/O: listeners, worker event loops and one coroutine per
// connection that executes the actions of an smtp::Session.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "smtp/session.h"

namespace boost::asio {
class thread_pool;
}
namespace sluice::directory {
class Directory;
}
namespace sluice::spool {
class Spool;
}
namespace sluice::queue {
class Queue;
}

namespace sluice::server {

struct ListenerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 2525;
};

struct ServerOptions {
  size_t workers = 2;  // event loops, one thread each, sharing ports (SO_REUSEPORT)
  std::vector<ListenerOptions> listeners{ListenerOptions{}};
  std::chrono::seconds command_timeout{300};  // RFC 5321 §4.5.3.2.7
  std::chrono::seconds data_timeout{600};     // RFC 5321 §4.5.3.2.6, per data block
};

// What the edge needs from the other stages.
struct Stages {
  directory::Directory& directory;
  spool::Spool& spool;
  queue::Queue& queue;
  boost::asio::thread_pool& blocking;  // synced spool commits run here
};

class Server {
 public:
  virtual ~Server() = default;
  // Binds every listener (an error names the address) and starts the workers.
  virtual Status Start() = 0;
  // Stops accepting; lets every message being stored get its reply; stops.
  virtual void Stop() = 0;
};

std::unique_ptr<Server> MakeServer(ServerOptions options,
                                   std::shared_ptr<const smtp::SessionOptions> session,
                                   Stages stages);

}  // namespace sluice::server
