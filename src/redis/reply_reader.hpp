#pragma once

// A hiredis reader that builds surge::redis::Reply trees directly.
//
// hiredis's default reader allocates one redisReply (calloc) per element
// plus a copy of each string; Reply::from_hiredis then copied the tree
// again and freeReplyObject released the first one. A worker batch (an
// XREADGROUP of 200 entries: about 2 000 elements) spent a third of the
// worker's CPU in those allocations and copies (perf, 2026-12-03). With
// these object functions hiredis still parses RESP, and each element is
// constructed once, in place, in its parent's array.

#include <memory>

#include <hiredis/read.h>

#include "redis/reply.hpp"

namespace surge::redis {

struct ReaderFree {
  void operator()(redisReader* r) const noexcept { redisReaderFree(r); }
};
using ReplyReader = std::unique_ptr<redisReader, ReaderFree>;

// A reader whose redisReaderGetReply yields `Reply*` (heap, owned by the
// caller: pass it to take_reply). Null when out of memory.
ReplyReader make_reply_reader();

// Takes ownership of what redisReaderGetReply returned from such a reader.
Reply take_reply(void* object);

}  // namespace surge::redis
