// A bounded stand-in for libFuzzer's driver, so every test run fuzzes a
// little without clang: valid seed requests, then random mutations of them
// (bit flips, byte changes, truncations, splices, random bytes) for at most
// --iterations inputs or --seconds, whichever ends first. A crash or abort in
// the target fails the test; the signal handler writes the input that caused
// it to fuzz-crash.bin first.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <zstd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "fieldlog/v1/ingest.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The input being run, for the crash handler (only async-signal-safe calls
// there: write and the default action).
const std::string* current_input = nullptr;
int crash_fd = -1;

void OnCrash(int signal) {
  if (current_input != nullptr && crash_fd >= 0) {
    (void)!::write(crash_fd, current_input->data(), current_input->size());
  }
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

void PutVarint(std::string* out, uint64_t value, int padding = 0) {
  while (value >= 0x80 || padding > 0) {
    out->push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
    if (value == 0 && --padding == 0) break;
  }
  out->push_back(static_cast<char>(value));
}

void PutBytes(std::string* out, uint32_t field, const std::string& bytes) {
  PutVarint(out, field << 3 | 2);
  PutVarint(out, bytes.size());
  out->append(bytes);
}

// A batch written by hand with the wire rules the protobuf API never
// produces, for the cross-check to start from: a repeated Attribute.value
// (merged), repeated singular fields (the last wins), an enum number the
// proto does not name, one wider than 32 bits, over-long varints, and
// unknown fields of every wire type, a nested group among them.
std::string UnusualBatch() {
  std::string unknown;
  PutVarint(&unknown, 11 << 3 | 0);
  PutVarint(&unknown, 300);
  PutVarint(&unknown, 12 << 3 | 1);
  unknown.append("12345678");
  PutVarint(&unknown, 13 << 3 | 5);
  unknown.append("1234");
  PutVarint(&unknown, 14 << 3 | 3);  // group 14 { 1: 1, group 15 { } }
  PutVarint(&unknown, 1 << 3 | 0);
  PutVarint(&unknown, 1);
  PutVarint(&unknown, 15 << 3 | 3);
  PutVarint(&unknown, 15 << 3 | 4);
  PutVarint(&unknown, 14 << 3 | 4);
  PutBytes(&unknown, 16, "skipped");

  std::string string_value, int_value;
  PutBytes(&string_value, 1, "v");
  PutVarint(&int_value, 2 << 3 | 0);
  PutVarint(&int_value, 42);
  std::string attribute;
  PutBytes(&attribute, 1, "k");
  PutBytes(&attribute, 2, string_value);
  PutBytes(&attribute, 2, int_value);
  PutBytes(&attribute, 2, "");  // merges nothing: the value stays 42
  PutBytes(&attribute, 1, "key");
  attribute += unknown;

  std::string batch;
  PutBytes(&batch, 3, "alice@example.com");
  for (int i = 0; i < 4; ++i) {
    std::string entry = unknown;
    PutVarint(&entry, 1 << 3 | 0);
    PutVarint(&entry, 100 + i, /*padding=*/i);
    PutVarint(&entry, 2 << 3 | 0);
    PutVarint(&entry, 1'795'000'000'000'000 - 1000 * i);
    PutVarint(&entry, 3 << 3 | 0);
    PutVarint(&entry, i == 1 ? 9 : i == 2 ? (uint64_t{1} << 32) + 4 : 3);
    PutBytes(&entry, 5, "first");
    PutBytes(&entry, 5, "message " + std::to_string(i));
    PutBytes(&entry, 9, attribute);
    PutBytes(&entry, 9, attribute);
    PutVarint(&entry, 10 << 3 | 0);
    PutVarint(&entry, i == 3 ? ~uint64_t{0} : 1);
    PutBytes(&batch, 5, entry);
  }
  PutBytes(&batch, 3, "bob@example.com");
  return batch;
}

std::vector<std::string> Seeds() {
  using namespace fieldlog;
  std::vector<std::string> seeds;
  v1::IngestRequest hello;
  hello.mutable_hello()->mutable_device()->set_device_id("device-1");
  seeds.push_back(hello.SerializeAsString());
  v1::IngestRequest request;
  v1::Batch* batch = request.mutable_batch();
  batch->set_batch_id(7);
  batch->set_user_id("alice@example.com");
  batch->set_session_id("s1");
  batch->set_sent_at_unix_micros(1'795'000'000'000'000);
  for (int i = 0; i < 20; ++i) {
    v1::Entry* e = batch->add_entries();
    e->set_seq(i + 1);
    e->set_time_unix_micros(1'795'000'000'000'000 - 1000 * (20 - i));
    e->set_level(static_cast<v1::Level>(1 + i % 6));
    e->set_tag(i % 2 ? "Checkout" : "Network");
    e->set_message("request " + std::to_string(i) + " took 42ms \xC3\xA9");
    e->set_file("pay.cc");
    e->set_line(10 + i);
    v1::Attribute* a = e->add_attributes();
    a->set_key("k");
    if (i % 3 == 0) a->mutable_value()->set_int_value(i);
    if (i % 3 == 1) a->mutable_value()->set_string_value("v");
    if (i % 3 == 2) a->mutable_value()->set_double_value(1.5);
  }
  seeds.push_back(request.SerializeAsString());
  // The same batch compressed, as the agent sends it.
  const std::string plain = request.batch().SerializeAsString();
  std::string frame(ZSTD_compressBound(plain.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), plain.data(), plain.size(), 1));
  v1::IngestRequest compressed;
  compressed.mutable_compressed_batch()->set_codec(v1::CompressedBatch::CODEC_ZSTD);
  compressed.mutable_compressed_batch()->set_data(frame);
  seeds.push_back(compressed.SerializeAsString());
  std::string unusual;
  PutBytes(&unusual, 2, UnusualBatch());
  seeds.push_back(unusual);
  return seeds;
}

std::string Mutate(std::string input, std::mt19937_64& random) {
  const int steps = 1 + static_cast<int>(random() % 4);
  for (int s = 0; s < steps; ++s) {
    switch (random() % 5) {
      case 0:
        if (!input.empty())
          input[random() % input.size()] ^= static_cast<char>(1 << (random() % 8));
        break;
      case 1:
        if (!input.empty()) input[random() % input.size()] = static_cast<char>(random());
        break;
      case 2:
        if (!input.empty()) input.resize(random() % input.size());
        break;
      case 3: {
        const size_t at = input.empty() ? 0 : random() % input.size();
        input.insert(at, std::string(1 + random() % 8, static_cast<char>(random())));
        break;
      }
      case 4:
        if (input.size() > 4) {
          const size_t from = random() % input.size();
          const size_t length = random() % (input.size() - from);
          input += input.substr(from, length);
        }
        break;
    }
  }
  return input;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 20000;
  long seconds = 20;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--iterations=", 13) == 0) iterations = std::atol(argv[i] + 13);
    if (std::strncmp(argv[i], "--seconds=", 10) == 0) seconds = std::atol(argv[i] + 10);
  }
  const std::vector<std::string> seeds = Seeds();
  std::mt19937_64 random(12345);
  const absl::Time deadline = absl::Now() + absl::Seconds(seconds);
  long run = 0;
  crash_fd = ::open("fuzz-crash.bin", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  for (int signal : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) ::signal(signal, OnCrash);
  const auto run_one = [&](const std::string& input) {
    current_input = &input;
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    current_input = nullptr;
    ++run;
  };
  for (const std::string& seed : seeds) run_one(seed);
  while (run < iterations && absl::Now() < deadline) {
    std::string input = Mutate(seeds[random() % seeds.size()], random);
    if (random() % 50 == 0) {
      input.resize(random() % 256);
      for (char& c : input) c = static_cast<char>(random());
    }
    run_one(input);
  }
  ::close(crash_fd);
  std::remove("fuzz-crash.bin");
  std::printf("fuzz smoke: %ld inputs, no crash\n", run);
  return 0;
}
