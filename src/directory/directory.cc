// Runs blocking back-end lookups on the directory's own threads, so a slow
// back end holds a directory thread, never an event loop (DESIGN.md rule 3).
#include "directory/directory.h"

#include "common/offload.h"

namespace sluice::directory {
namespace {

namespace asio = boost::asio;

class PooledDirectory final : public Directory {
 public:
  PooledDirectory(std::unique_ptr<Backend> backend, size_t threads)
      : backend_(std::move(backend)), pool_(threads) {}
  ~PooledDirectory() override { pool_.join(); }

  asio::awaitable<LookupResult> Resolve(std::string address) override {
    auto lookup = [b = backend_.get(), a = std::move(address)] { return b->Lookup(a); };
    auto op = Offload(pool_, std::move(lookup));  // see Offload on temporaries
    co_return co_await std::move(op);
  }

 private:
  std::unique_ptr<Backend> backend_;
  asio::thread_pool pool_;
};

}  // namespace

std::unique_ptr<Directory> MakeDirectory(std::unique_ptr<Backend> backend, size_t threads) {
  return std::make_unique<PooledDirectory>(std::move(backend), threads);
}

}  // namespace sluice::directory
