// A RocksDB FileSystem that asks the SpaceGuard before every write, so a
// full disk reaches RocksDB as a clean NoSpace error before any byte is
// written (space.h says why). Used only by rocksdb_spool.cc.
#pragma once

#include <rocksdb/file_system.h>

#include <memory>

#include "spool/space.h"

namespace sluice::spool {

// `guard` must outlive the file system and every file it opens.
std::shared_ptr<rocksdb::FileSystem> GuardedFileSystem(std::shared_ptr<rocksdb::FileSystem> base,
                                                       SpaceGuard& guard);

}  // namespace sluice::spool
