#include "benchmarks/fleet.h"

#include "absl/strings/str_format.h"
#include "benchmarks/corpus.h"

namespace fieldlog::bench {
namespace {

// What a rare line says; kRareToken is the part searched for.
constexpr absl::string_view kRareMessage =
    "certificate pinning failed for api.payments.example.com (fl-rare-7f3a), request dropped";

}  // namespace

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void FillEntry(const LineView& line, uint64_t seq, v1::Entry* entry) {
  entry->set_seq(seq);
  entry->set_time_unix_micros(line.time_us);
  entry->set_level(line.level);
  entry->set_tag(line.tag.data(), line.tag.size());
  entry->set_message(line.message.data(), line.message.size());
}

LineView GeneratedLines::operator[](size_t i) const {
  const Ref& r = refs_[i];
  return {static_cast<v1::Level>(r.level),
          absl::string_view(arena_.data() + r.tag_offset, r.tag_size),
          absl::string_view(arena_.data() + r.message_offset, r.message_size), r.time_us};
}

Fleet::Fleet(const FleetSpec& spec) : spec_(spec) {
  device_user_.resize(spec_.devices);
  int device = 0;
  for (int user = 0; device < spec_.devices; ++user) {
    const int count = 1 + static_cast<int>(Mix(spec_.seed * 7919 + user) % 3);
    user_first_device_.push_back(device);
    for (int k = 0; k < count && device < spec_.devices; ++k) device_user_[device++] = user;
  }
}

int Fleet::DeviceCountOf(int user) const {
  const int end = user + 1 < users() ? user_first_device_[user + 1] : spec_.devices;
  return end - user_first_device_[user];
}

std::string Fleet::DeviceId(int device) const {
  const uint64_t a = Mix(spec_.seed ^ (uint64_t{0xde} << 56) ^ static_cast<uint64_t>(device));
  const uint64_t b = Mix(a);
  // UUIDv4 layout, as the agent generates them.
  return absl::StrFormat("%08x-%04x-4%03x-%04x-%012x", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                         0x8000 | ((b >> 48) & 0x3fff), b & 0xffffffffffffULL);
}

std::string Fleet::UserId(int user) const {
  const uint64_t h = Mix(spec_.seed ^ (uint64_t{0x05} << 56) ^ static_cast<uint64_t>(user));
  return absl::StrFormat("user%06d.%04x@example.com", user, h & 0xffff);
}

bool Fleet::IsRare(int device, int line) const {
  if (spec_.rare_every <= 0) return false;
  const uint64_t h =
      Mix(spec_.seed ^ Mix((static_cast<uint64_t>(device) << 32) | static_cast<uint32_t>(line)));
  return h % static_cast<uint64_t>(spec_.rare_every) == 0;
}

uint64_t Fleet::RareLineCount() const {
  uint64_t count = 0;
  for (int d = 0; d < spec_.devices; ++d) {
    for (int j = 0; j < spec_.lines_per_device; ++j) count += IsRare(d, j) ? 1 : 0;
  }
  return count;
}

GeneratedLines Fleet::Lines(int device) const {
  GeneratedLines out;
  const int n = spec_.lines_per_device;
  out.refs_.reserve(n);
  out.arena_.reserve(static_cast<size_t>(n) * 128);
  LineGenerator generator(Mix(spec_.seed * 1'000'003 + static_cast<uint64_t>(device)));
  // Devices do not log in lockstep: each starts a little later.
  const int64_t skew = static_cast<int64_t>(Mix(device) % 60'000'000);
  const int64_t step = n > 0 ? (spec_.span_us - 60'000'000) / n : 0;
  for (int j = 0; j < n; ++j) {
    CorpusLine line = generator.Next();
    if (IsRare(device, j)) {
      line.level = v1::LEVEL_ERROR;
      line.message = std::string(kRareMessage);
    }
    GeneratedLines::Ref ref;
    ref.level = static_cast<uint8_t>(line.level);
    ref.tag_offset = static_cast<uint32_t>(out.arena_.size());
    ref.tag_size = static_cast<uint16_t>(line.tag.size());
    out.arena_.append(line.tag);
    ref.message_offset = static_cast<uint32_t>(out.arena_.size());
    ref.message_size = static_cast<uint32_t>(line.message.size());
    out.arena_.append(line.message);
    ref.time_us = spec_.start_us + skew + step * j;
    out.text_bytes_ += line.tag.size() + line.message.size();
    out.refs_.push_back(ref);
  }
  return out;
}

}  // namespace fieldlog::bench
