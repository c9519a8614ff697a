#include "agent/src/record.h"

namespace fieldlog {

// Public (fieldlog/agent.h), defined here so the agent's core needs no more.
Attribute KeyValue::view() const {
  return std::visit([&](const auto& v) { return Attribute(key, v); }, value);
}

namespace agent {

void ReadLine(const char* data, LineRecord* out) {
  out->header = ReadHeader(data);
  const RecordHeader& h = out->header;
  const char* p = data + sizeof(RecordHeader);
  out->tag = {p, h.tag_copied};
  p += h.tag_copied;
  out->message = {p, h.message_copied};
  p += h.message_copied;
  out->file = {p, h.file_copied};
  p += h.file_copied;
  out->function = {p, h.function_copied};
  p += h.function_copied;
  out->attributes.clear();
  for (size_t i = 0; i < h.attribute_count; ++i) {
    AttributeHeader ah;
    std::memcpy(&ah, p, sizeof(ah));
    p += sizeof(ah);
    AttributeRecord a;
    a.type = static_cast<Attribute::Type>(ah.type);
    a.key = {p, ah.key_copied};
    p += ah.key_copied;
    a.value = {p, ah.value_copied};
    p += ah.value_copied;
    a.value_size = a.type == Attribute::Type::kString
                       ? static_cast<uint32_t>(std::min<uint64_t>(ah.number, UINT32_MAX))
                       : 0;
    a.number = ah.number;
    out->attributes.push_back(a);
  }
}

}  // namespace agent
}  // namespace fieldlog
