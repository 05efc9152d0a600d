#include "redis/reply_reader.hpp"

#include <memory>
#include <string>
#include <utility>

#include <hiredis/hiredis.h>

namespace surge::redis {

namespace {

// Stores `value` where the task says: in its parent's (pre-sized) array, or
// as a new root. Returns the stored object, null on allocation failure
// (hiredis then reports "Out of memory"). Never throws: it is called from C.
void* place(const redisReadTask* task, Reply&& value) noexcept {
  try {
    if (task->parent != nullptr) {
      Reply& slot = static_cast<Reply*>(task->parent->obj)->as_array()[task->idx];
      slot = std::move(value);
      return &slot;
    }
    return new Reply(std::move(value));
  } catch (...) {
    return nullptr;
  }
}

void* create_string(const redisReadTask* task, char* text, std::size_t size) {
  try {
    std::string s(text, size);
    switch (task->type) {
      case REDIS_REPLY_ERROR:
        return place(task, Reply::error(std::move(s)));
      case REDIS_REPLY_STATUS:
        return place(task, Reply::status(std::move(s)));
      default:
        return place(task, Reply::string(std::move(s)));
    }
  } catch (...) {
    return nullptr;
  }
}

void* create_array(const redisReadTask* task, int elements) {
  try {
    // Pre-sized: the children are constructed in place and their addresses
    // stay valid while hiredis fills them.
    return place(task, Reply::array(Reply::Array(static_cast<std::size_t>(elements))));
  } catch (...) {
    return nullptr;
  }
}

void* create_integer(const redisReadTask* task, long long value) {
  return place(task, Reply::integer(value));
}

void* create_nil(const redisReadTask* task) {
  return place(task, Reply::nil());
}

// hiredis frees only roots this way (a reply abandoned on error or with the
// reader); children belong to their root.
void free_object(void* object) {
  const std::unique_ptr<Reply> owned(static_cast<Reply*>(object));
}

}  // namespace

ReplyReader make_reply_reader() {
  // hiredis keeps the pointer (non-const in its API) and only reads it.
  static redisReplyObjectFunctions functions = {create_string, create_array, create_integer,
                                                create_nil, free_object};
  return ReplyReader(redisReaderCreateWithFunctions(&functions));
}

Reply take_reply(void* object) {
  const std::unique_ptr<Reply> owned(static_cast<Reply*>(object));
  return std::move(*owned);
}

}  // namespace surge::redis
