#include "spool/writer.h"

#include <fmt/format.h>
#include <rocksdb/write_batch.h>

#include <future>

#include "spool/record_format.h"

namespace sluice::spool {

BatchWriter::BatchWriter(rocksdb::DB& db, bool sync, std::function<void()> failed, bool journal_discards,
                         uint64_t next_discard)
    : db_(db), failed_(std::move(failed)), journal_discards_(journal_discards), next_discard_(next_discard) {
  synced_.sync = sync;
  thread_ = std::thread([this] { Run(); });
}

BatchWriter::~BatchWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void BatchWriter::Queue(Item item) {
  std::unique_lock lock(mu_);
  if (stopping_) {
    lock.unlock();
    item.done(Status::Unavailable("the spool is closing"));
    return;
  }
  const bool idle = queued_.empty();
  queued_.push_back(std::move(item));
  lock.unlock();
  if (idle) wake_.notify_one();  // a busy writer takes it with its next batch
}

void BatchWriter::Drain() {
  std::promise<void> drained;
  Item barrier;
  barrier.barrier = true;
  barrier.done = [&drained](Status) { drained.set_value(); };
  Queue(std::move(barrier));
  drained.get_future().wait();
}

BatchWriter::Counters BatchWriter::counters() {
  std::lock_guard lock(mu_);
  return counters_;
}

void BatchWriter::Run() {
  std::vector<Item> batch, rest;
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || !queued_.empty(); });
    if (queued_.empty()) break;  // stopping, and everything queued is written
    // Take what is queued, up to the batch bounds; the rest waits its turn.
    size_t bytes = 0, n = 0;
    while (n < queued_.size() && n < kMaxBatchChanges && (n == 0 || bytes < kMaxBatchBytes)) {
      if (queued_[n].content) bytes += queued_[n].content->size();
      ++n;
    }
    batch.assign(std::make_move_iterator(queued_.begin()), std::make_move_iterator(queued_.begin() + n));
    queued_.erase(queued_.begin(), queued_.begin() + n);
    lock.unlock();
    Status s = WriteBatchOf(batch);
    if (!s.ok() && failed_) failed_();
    for (auto& item : batch) item.done(s);
    batch.clear();
    lock.lock();
  }
}

Status BatchWriter::WriteBatchOf(std::vector<Item>& items) {
  rocksdb::WriteBatch wb;
  bool sync = false;
  size_t changes = 0;
  for (const Item& it : items) {
    if (it.barrier) continue;
    ++changes;
    switch (it.kind) {
      case Change::Kind::kCommit:
        wb.Put(Key(kEnvelopeKey, it.id), it.envelope_record);
        wb.Put(Key(kBodyKey, it.id), rocksdb::Slice(it.content->data(), it.content->size()));
        wb.Put(Key(kRecipientsKey, it.id), it.states_record);
        sync = true;
        break;
      case Change::Kind::kUpdate:
        wb.Put(Key(kRecipientsKey, it.id), it.states_record);
        sync = true;
        break;
      case Change::Kind::kRemove:
        wb.Delete(Key(kEnvelopeKey, it.id));
        wb.Delete(Key(kBodyKey, it.id));
        wb.Delete(Key(kRecipientsKey, it.id));
        // Numbered here, on the one writer thread: sequences rise in the
        // order removals reach the store, so a reader that saw N has seen
        // every record below it.
        if (journal_discards_) wb.Put(Key(kDiscardKey, fmt::format("{:016x}", next_discard_++)), it.id);
        break;
    }
  }
  if (changes == 0) return Status::Ok();  // barriers only
  // Removals alone are not synced (doc/spool_format.md, "Life of a
  // message"); in a batch with commits they ride on its sync.
  rocksdb::Status s = db_.Write(sync ? synced_ : unsynced_, &wb);
  {
    std::lock_guard lock(mu_);
    ++counters_.batches;
    counters_.changes += changes;
    counters_.synced_batches += sync ? 1 : 0;
  }
  return FromRocks(s, fmt::format("write of {} change{}", changes, changes == 1 ? "" : "s"));
}

}  // namespace sluice::spool
