#include "agent/src/spooler.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "agent/src/text_fit.h"
#include "agent/src/wire.h"
#include "common/limits.h"

namespace fieldlog::agent {
namespace {

constexpr std::string_view kDropReason =
    "a thread logged faster than the agent could store (its buffer was full)";

struct RingCursor {
  ThreadRing* ring;
  const char* spans[2];
  size_t sizes[2];
  int span = 0;
  size_t pos = 0;
  size_t consumed = 0;

  // Skips pads; false when nothing is left.
  bool Valid() {
    while (span < 2) {
      if (pos + sizeof(uint32_t) <= sizes[span]) {
        uint32_t size;
        std::memcpy(&size, spans[span] + pos, sizeof(size));
        if (size != RingBuffer::kPadMarker) return true;
        consumed += sizes[span] - pos;
      }
      ++span;
      pos = 0;
    }
    return false;
  }
  const char* record() const { return spans[span] + pos; }
  void Advance(uint32_t size) {
    pos += size;
    consumed += size;
  }
};

void PutAttribute(std::string* body, std::string_view key, Attribute::Type type,
                  std::string_view string_prefix, size_t string_size, int64_t number,
                  std::string* scratch) {
  std::string attribute;
  scratch->clear();
  FitId(key, kMaxAttributeKeyBytes, scratch);
  wire::PutBytesField(&attribute, 1, scratch->empty() ? std::string_view("_") : *scratch);
  std::string value;
  switch (type) {
    case Attribute::Type::kString:
      scratch->clear();
      FitText(string_prefix, string_size, kMaxAttributeValueBytes, scratch);
      wire::PutBytesField(&value, 1, *scratch);
      break;
    case Attribute::Type::kInt:
      wire::PutVarintField(&value, 2, static_cast<uint64_t>(number));
      break;
    case Attribute::Type::kDouble: {
      double d;
      std::memcpy(&d, &number, sizeof(d));
      wire::PutDoubleField(&value, 3, d);
      break;
    }
    case Attribute::Type::kBool:
      wire::PutVarintField(&value, 4, number != 0 ? 1 : 0);
      break;
  }
  wire::PutBytesField(&attribute, 2, value);
  wire::PutBytesField(body, wire::kEntryAttributes, attribute);
}

void PutText(std::string* body, int field, std::string_view prefix, size_t size, size_t max,
             std::string* scratch) {
  if (size == 0) return;
  scratch->clear();
  FitText(prefix, size, max, scratch);
  wire::PutBytesField(body, field, *scratch);
}

}  // namespace

void UserTable::Set(std::string_view user_id) {
  std::string id;
  FitId(user_id, kMaxUserIdBytes, &id);
  std::lock_guard<std::mutex> lock(mu_);
  const uint32_t next = version_.load(std::memory_order_relaxed) + 1;
  users_[next] = std::move(id);
  version_.store(next, std::memory_order_release);
}

std::string UserTable::Get(uint32_t version) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = users_.upper_bound(version);
  if (it == users_.begin()) return users_.begin()->second;
  return std::prev(it)->second;
}

void UserTable::Trim(uint32_t version) {
  // Lines of an older version may still wait in another thread's buffer, so
  // keep a generous window of versions behind the one just spooled.
  constexpr size_t kKept = 256;
  std::lock_guard<std::mutex> lock(mu_);
  while (users_.size() > kKept && users_.begin()->first < version) users_.erase(users_.begin());
}

Spooler::Spooler(ThreadRings* rings, UserTable* users, Spool* spool, Options options)
    : rings_(rings), users_(users), spool_(spool), options_(std::move(options)) {}

void Spooler::SetUserVersion(uint32_t version) {
  if (context_set_ && version == user_version_) return;
  context_set_ = true;
  user_version_ = version;
  spool_->SetContext(options_.session_id, users_->Get(version));
}

absl::Status Spooler::Drain() {
  rings_->Collect(&live_);
  std::vector<RingCursor> cursors;
  cursors.reserve(live_.size());
  for (const auto& ring : live_) {
    RingCursor c{ring.get(), {}, {}};
    ring->ring.PeekAll(&c.spans[0], &c.sizes[0], &c.spans[1], &c.sizes[1]);
    if (c.sizes[0] + c.sizes[1] > 0) cursors.push_back(c);
  }
  // Merge by time: take the earliest head among the threads, so lines from
  // different threads land in the spool (and get seqs) in time order.
  for (;;) {
    RingCursor* next = nullptr;
    int64_t next_time = 0;
    for (RingCursor& c : cursors) {
      if (!c.Valid()) continue;
      const RecordHeader h = ReadHeader(c.record());
      if (next == nullptr || h.time_us < next_time) {
        next = &c;
        next_time = h.time_us;
      }
    }
    if (next == nullptr) break;
    const RecordHeader h = ReadHeader(next->record());
    SetUserVersion(h.user_version);
    if (h.type == RecordType::kDrops) {
      spool_->AppendGap(h.message_size, h.time_us, kDropReason);
      ++spooled_;
    } else {
      ReadLine(next->record(), &line_);
      SpoolLine(line_);
    }
    next->Advance(h.size);
  }
  for (RingCursor& c : cursors) c.ring->ring.Release(c.consumed);
  // Threads that exited with drops they could not record.
  for (const auto& ring : live_) {
    if (ring->abandoned.load(std::memory_order_acquire) && ring->ring.Empty() &&
        ring->unreported_drops > 0) {
      spool_->AppendGap(ring->unreported_drops, ring->first_drop_us, kDropReason);
      ++spooled_;
      ring->unreported_drops = 0;
    }
  }
  live_.clear();
  rings_->Reap();
  users_->Trim(user_version_);
  return spool_->Commit();
}

void Spooler::SpoolLine(const LineRecord& line) {
  const RecordHeader& h = line.header;
  body_.clear();
  if (!options_.redact && !options_.scrub_pii) {
    wire::PutVarintField(&body_, wire::kEntryTime, static_cast<uint64_t>(h.time_us));
    wire::PutVarintField(&body_, wire::kEntryLevel, h.level);
    PutText(&body_, wire::kEntryTag, line.tag, h.tag_size, kMaxTagBytes, &scratch_);
    PutText(&body_, wire::kEntryMessage, line.message, h.message_size, kMaxMessageBytes, &scratch_);
    for (const AttributeRecord& a : line.attributes) {
      PutAttribute(&body_, a.key, a.type, a.value, a.value_size, a.number, &scratch_);
    }
  } else {
    // Slow path: the hook and the scrubber see owned, already fitted text.
    RedactableEntry& e = redactable_;
    e.level = static_cast<Level>(h.level);
    e.tag.clear();
    FitText(line.tag, h.tag_size, kMaxTagBytes, &e.tag);
    e.message.clear();
    FitText(line.message, h.message_size, kMaxMessageBytes, &e.message);
    e.attributes.clear();
    for (const AttributeRecord& a : line.attributes) {
      std::string key(a.key);
      switch (a.type) {
        case Attribute::Type::kString: {
          std::string value;
          FitText(a.value, a.value_size, kMaxAttributeValueBytes, &value);
          e.attributes.emplace_back(std::move(key), std::move(value));
          break;
        }
        case Attribute::Type::kInt:
          e.attributes.emplace_back(std::move(key), a.number);
          break;
        case Attribute::Type::kDouble: {
          double d;
          std::memcpy(&d, &a.number, sizeof(d));
          e.attributes.emplace_back(std::move(key), d);
          break;
        }
        case Attribute::Type::kBool:
          e.attributes.emplace_back(std::move(key), a.number != 0);
          break;
      }
    }
    e.drop = false;
    if (options_.scrub_pii) {
      if (ScrubPii(e.message, &scrubbed_)) e.message.swap(scrubbed_);
      for (KeyValue& kv : e.attributes) {
        if (auto* s = std::get_if<std::string>(&kv.value); s && ScrubPii(*s, &scrubbed_)) {
          s->swap(scrubbed_);
        }
      }
    }
    if (options_.redact) options_.redact(e);
    if (e.drop) return;
    wire::PutVarintField(&body_, wire::kEntryTime, static_cast<uint64_t>(h.time_us));
    wire::PutVarintField(&body_, wire::kEntryLevel, h.level);
    PutText(&body_, wire::kEntryTag, e.tag, e.tag.size(), kMaxTagBytes, &scratch_);
    PutText(&body_, wire::kEntryMessage, e.message, e.message.size(), kMaxMessageBytes, &scratch_);
    for (const KeyValue& kv : e.attributes) {
      const Attribute a = kv.view();
      PutAttribute(&body_, a.key(), a.type(), a.string_value(), a.string_value().size(),
                   a.number_bits(), &scratch_);
    }
  }
  PutText(&body_, wire::kEntryFile, line.file, line.file.size(), kMaxFileBytes, &scratch_);
  if (h.line != 0) wire::PutVarintField(&body_, wire::kEntryLine, h.line);
  PutText(&body_, wire::kEntryFunction, line.function, line.function.size(), kMaxFunctionBytes,
          &scratch_);
  if (h.kind != 0) wire::PutVarintField(&body_, wire::kEntryKind, h.kind);
  spool_->Append(h.level, h.kind, body_);
  ++spooled_;
}

uint64_t Spooler::AppendMarker(uint8_t level, uint8_t kind, int64_t time_us, std::string_view tag,
                               std::string_view message, std::span<const Attribute> attributes) {
  SetUserVersion(users_->version());
  return AppendEntry(level, kind, time_us, tag, message, attributes);
}

uint64_t Spooler::AppendMarkerIn(std::string_view session_id, std::string_view user_id,
                                 uint8_t level, uint8_t kind, int64_t time_us, std::string_view tag,
                                 std::string_view message, std::span<const Attribute> attributes) {
  spool_->SetContext(session_id, user_id);
  context_set_ = false;  // the next line restates its own
  return AppendEntry(level, kind, time_us, tag, message, attributes);
}

uint64_t Spooler::AppendEntry(uint8_t level, uint8_t kind, int64_t time_us, std::string_view tag,
                              std::string_view message, std::span<const Attribute> attributes) {
  body_.clear();
  wire::PutVarintField(&body_, wire::kEntryTime, static_cast<uint64_t>(time_us));
  wire::PutVarintField(&body_, wire::kEntryLevel, level);
  PutText(&body_, wire::kEntryTag, tag, tag.size(), kMaxTagBytes, &scratch_);
  PutText(&body_, wire::kEntryMessage, message, message.size(), kMaxMessageBytes, &scratch_);
  for (const Attribute& a : attributes) {
    PutAttribute(&body_, a.key(), a.type(), a.string_value(), a.string_value().size(),
                 a.number_bits(), &scratch_);
  }
  if (kind != 0) wire::PutVarintField(&body_, wire::kEntryKind, kind);
  ++spooled_;
  return spool_->Append(level, kind, body_);
}

}  // namespace fieldlog::agent
