// Compression dictionaries: what the sampler lets into one (only text that
// enough distinct users logged), blocks compressed with one and read back,
// and the store building, persisting and using them end to end against a real
// RocksDB in a temporary directory.
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "store/block.h"
#include "store/dictionaries.h"
#include "store/reader.h"
#include "store/store.h"
#include "store/template_sampler.h"
#include "store/writer.h"
#include "tests/testing/test_util.h"

namespace fieldlog::store {
namespace {

using ::fieldlog::testing::TempDir;

constexpr AppId kApp = 1;
constexpr int64_t kBaseTime = 1'795'000'000'000'000;

// The text an app's devices log: a few common statements with numbers, each
// device its own numbers.
std::string CommonMessage(int device, int line) {
  switch ((device + line) % 8) {
    case 0:
      return "checkout took " + std::to_string(100 + device * 7 + line) + " ms";
    case 1:
      return "PaymentSheet opened for cart " + std::to_string(9000 + device) + " with " +
             std::to_string(1 + line % 9) + " items";
    case 2:
      return "sync finished: " + std::to_string(line * 3 + 1) + " records, " +
             std::to_string(device % 50 + 1) + " conflicts";
    case 3:
      return "GET /api/v2/orders/" + std::to_string(700000 + device * 13 + line) + " -> 200";
    case 4:
      return "image cache trimmed to " + std::to_string(20 + line) + " MB after memory warning";
    case 5:
      return "push token refreshed; next refresh in " + std::to_string(3600 + device) + " s";
    case 6:
      return "ViewController CheckoutViewController appeared in " + std::to_string(line + 5) +
             " ms (cold start: no)";
    default:
      return "websocket reconnect attempt " + std::to_string(line % 5 + 1) +
             " to wss://events.example.com failed: timeout after " + std::to_string(line + 10) +
             " s";
  }
}

TEST(TemplateSamplerTest, OnlyTextEnoughUsersLoggedGoesIn) {
  TemplateSampler sampler(TemplateSamplerOptions{.min_people = 8});
  // Twenty users log the common text; one user logs her own address on
  // twelve devices (her devices must not count as twelve people).
  for (int user = 0; user < 20; ++user) {
    for (int line = 0; line < 8; ++line) {
      sampler.Observe(kApp, "user-" + std::to_string(user), "device-" + std::to_string(user),
                      "Checkout", CommonMessage(user, line));
    }
  }
  for (int device = 0; device < 12; ++device) {
    sampler.Observe(kApp, "alice@example.com", "alice-device-" + std::to_string(device), "Profile",
                    "shipping to alice@example.com, Rue Lepic 7");
  }
  // Seven users (devices without a user) log a rare text: one short.
  for (int device = 0; device < 7; ++device) {
    sampler.Observe(kApp, "", "kiosk-" + std::to_string(device), "Kiosk", "kiosk mode on");
  }
  uint64_t samples = 0;
  const std::string content = sampler.BuildContent(kApp, &samples);
  EXPECT_EQ(samples, 20 * 8 + 12 + 7);
  ASSERT_FALSE(content.empty());
  EXPECT_EQ(content[0], '\0') << "raw content, never zstd's dictionary magic";
  EXPECT_NE(content.find("checkout took \x01 ms"), std::string::npos);
  EXPECT_NE(content.find("PaymentSheet opened for cart \x01 with \x01 items"), std::string::npos);
  EXPECT_NE(content.find("Checkout"), std::string::npos);
  EXPECT_EQ(content.find("alice"), std::string::npos) << "one user's text, however many devices";
  EXPECT_EQ(content.find("Profile"), std::string::npos);
  EXPECT_EQ(content.find("kiosk"), std::string::npos) << "seven devices are not eight";
  // Another app's dictionary holds nothing of this one's.
  EXPECT_TRUE(sampler.BuildContent(kApp + 1, &samples).empty());
}

TEST(TemplateSamplerTest, TheMostFrequentComesLastAndTheBudgetHolds) {
  TemplateSampler sampler(TemplateSamplerOptions{.min_people = 2, .dictionary_bytes = 64});
  for (int user = 0; user < 3; ++user) {
    const std::string id = "u" + std::to_string(user);
    for (int i = 0; i < 5; ++i) sampler.Observe(kApp, id, id, "", "often said text");
    sampler.Observe(kApp, id, id, "", "rarely said text");
    sampler.Observe(kApp, id, id, "", std::string(100, 'x'));  // over the budget alone
  }
  uint64_t samples = 0;
  const std::string content = sampler.BuildContent(kApp, &samples);
  EXPECT_LE(content.size(), 64u);
  const size_t often = content.find("often said text");
  const size_t rarely = content.find("rarely said text");
  ASSERT_NE(often, std::string::npos);
  ASSERT_NE(rarely, std::string::npos);
  EXPECT_LT(rarely, often);
  EXPECT_EQ(content.find("xxxx"), std::string::npos);
}

TEST(TemplateSamplerTest, EveryLineIsSampledOnlyUntilTheFirstThreshold) {
  TemplateSampler sampler(TemplateSamplerOptions{.first_build_samples = 50});
  EXPECT_EQ(sampler.SampleEvery(kApp), 1u);
  // One user only: nothing qualifies, so no dictionary can come of these.
  for (int i = 0; i < 49; ++i) sampler.Observe(kApp, "u", "d", "", "line");
  EXPECT_EQ(sampler.SampleEvery(kApp), 1u);
  sampler.Observe(kApp, "u", "d", "", "line");
  EXPECT_EQ(sampler.SampleEvery(kApp), TemplateSampler::kSampleEvery);
  uint64_t samples = 0;
  EXPECT_TRUE(sampler.BuildContent(kApp, &samples).empty());
  EXPECT_EQ(sampler.SampleEvery(kApp + 1), 1u) << "per app";
}

TEST(TemplateSamplerTest, ABuildIsDueAtTheFirstThresholdThenAtFourTimesIt) {
  TemplateSampler sampler(TemplateSamplerOptions{.first_build_samples = 100});
  std::vector<int> due;
  for (int i = 1; i <= 2000; ++i) {
    if (sampler.Observe(kApp, "", "d" + std::to_string(i % 10), "", "line")) due.push_back(i);
  }
  EXPECT_EQ(due, (std::vector<int>{100, 400, 1600}));
}

// Builds one block of `lines` common lines of device 0.
std::string CommonBlock(int lines, const BlockEncoding& encoding) {
  BlockBuilder builder(encoding);
  std::vector<std::string> messages;
  messages.reserve(lines);
  for (int i = 0; i < lines; ++i) {
    messages.push_back(CommonMessage(0, i));
    EntryView e;
    e.seq = static_cast<uint64_t>(i + 1);
    e.time_us = e.device_time_us = e.receive_time_us = kBaseTime + i * 1000;
    e.tag = "Checkout";
    e.message = messages.back();
    e.user_id = "user-0";
    e.session_id = "s1";
    builder.Add(e);
  }
  std::string payload;
  BlockMeta meta;
  builder.Finish(&payload, &meta);
  return payload;
}

class DictionaryStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> OpenStore(const std::string& name, bool dictionaries = true) {
    StoreOptions options;
    options.path = dir_.path() + "/" + name;
    options.compression_dictionaries = dictionaries;
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // `devices` devices of two per user log `lines` common lines each.
  static void WriteFleet(Store& store, int devices, int lines) {
    for (int d = 0; d < devices; ++d) {
      std::vector<std::string> messages;
      std::vector<EntryView> entries;
      messages.reserve(lines);
      const std::string user = "user-" + std::to_string(d / 2);
      const std::string session = "s-" + std::to_string(d);
      for (int i = 0; i < lines; ++i) {
        messages.push_back(CommonMessage(d, i));
        EntryView e;
        e.seq = static_cast<uint64_t>(i + 1);
        e.device_time_us = kBaseTime + i * 1000;
        e.receive_time_us = kBaseTime + 5'000'000;
        e.tag = "Checkout";
        e.message = messages.back();
        e.user_id = user;
        e.session_id = session;  // (a view: the string must outlive the Append)
        entries.push_back(e);
      }
      AppendRequest request;
      request.app = kApp;
      const std::string device = "device-" + std::to_string(d);
      request.device_id = device;
      request.receive_time_us = kBaseTime + 5'000'000;
      request.entries = entries;
      absl::StatusOr<AppendResult> result = store.writer().Append(request);
      ASSERT_TRUE(result.ok()) << result.status();
    }
    store.writer().WaitForMerges();
    rocksdb::CompactRangeOptions compact;
    compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    for (Family family : {Family::kBlocks, Family::kBlockMeta}) {
      ASSERT_TRUE(store.db()->CompactRange(compact, store.family(family), nullptr, nullptr).ok());
    }
  }

  // Reads every device's lines back through store::Reader and checks them;
  // returns how many blocks could not be read without the dictionaries.
  static int CheckEveryLine(Store& store, int devices, int lines) {
    Reader reader(store);
    int need_dictionary = 0;
    for (int d = 0; d < devices; ++d) {
      const std::string device = "device-" + std::to_string(d);
      absl::StatusOr<std::vector<BlockRef>> blocks = reader.ListBlocks(kApp, device);
      EXPECT_TRUE(blocks.ok()) << blocks.status();
      int seen = 0;
      for (const BlockRef& ref : *blocks) {
        absl::StatusOr<BlockReader> block = reader.ReadBlock(kApp, device, ref.first_seq);
        EXPECT_TRUE(block.ok()) << block.status();
        if (!block.ok()) continue;
        for (size_t i = 0; i < block->size(); ++i, ++seen) {
          EXPECT_EQ(block->message(i), CommonMessage(d, static_cast<int>(block->seq(i)) - 1));
        }
        std::string payload;
        EXPECT_TRUE(store.db()
                        ->Get(rocksdb::ReadOptions(), store.family(Family::kBlocks),
                              BlockKey(kApp, device, ref.first_seq), &payload)
                        .ok());
        absl::StatusOr<BlockReader> bare = BlockReader::Open(payload);
        if (!bare.ok()) {
          EXPECT_EQ(bare.status().code(), absl::StatusCode::kDataLoss);
          EXPECT_NE(bare.status().message().find("which the store does not have"),
                    std::string::npos)
              << bare.status();
          ++need_dictionary;
        }
      }
      EXPECT_EQ(seen, lines) << device;
    }
    return need_dictionary;
  }

  static uint64_t BlockBytes(Store& store) {
    uint64_t bytes = 0;
    store.db()->GetIntProperty(store.family(Family::kBlocks), "rocksdb.total-sst-files-size",
                               &bytes);
    return bytes;
  }

  TempDir dir_;
};

TEST_F(DictionaryStoreTest, ABlockNamesItsDictionaryAndReadsBackOnlyWithIt) {
  std::unique_ptr<Store> store = OpenStore("db");
  ASSERT_NE(store, nullptr);
  TemplateSampler sampler(TemplateSamplerOptions{.min_people = 1});
  for (int i = 0; i < 64; ++i) {
    sampler.Observe(kApp, "u", "d", "Checkout", CommonMessage(1, i));
  }
  uint64_t samples = 0;
  std::string content = sampler.BuildContent(kApp, &samples);
  absl::StatusOr<std::shared_ptr<const CompressionDictionary>> dictionary =
      store->dictionaries().Add(kApp, content, samples, 1);
  ASSERT_TRUE(dictionary.ok()) << dictionary.status();
  EXPECT_FALSE(store->dictionaries().Add(kApp, "no leading zero", 1, 1).ok());

  const std::string plain = CommonBlock(20, BlockEncoding{3, true});
  const std::string with = CommonBlock(20, BlockEncoding{3, true, dictionary->get()});
  EXPECT_LT(with.size() * 3, plain.size() * 2) << "a 20-line block, with and without";

  absl::StatusOr<BlockReader> bare = BlockReader::Open(with);
  ASSERT_FALSE(bare.ok());
  EXPECT_EQ(bare.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(bare.status().message().find(absl::StrCat("dictionary ", (*dictionary)->id())),
            std::string::npos)
      << bare.status();
  absl::StatusOr<BlockReader> read =
      BlockReader::Open(with, BlockReadOptions{.dictionaries = &store->dictionaries()});
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 20u);
  for (size_t i = 0; i < read->size(); ++i) {
    EXPECT_EQ(read->message(i), CommonMessage(0, static_cast<int>(i)));
  }

  // Compaction re-compresses a small block settled before the dictionary,
  // and leaves alone one that has it.
  std::string resettled;
  ASSERT_TRUE(SettleBlock(plain, 3, dictionary->get(), &store->dictionaries(), &resettled));
  EXPECT_LT(resettled.size(), plain.size());
  absl::StatusOr<BlockReader> again =
      BlockReader::Open(resettled, BlockReadOptions{.dictionaries = &store->dictionaries()});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->message(7), CommonMessage(0, 7));
  std::string untouched;
  EXPECT_FALSE(SettleBlock(with, 3, dictionary->get(), &store->dictionaries(), &untouched));
  EXPECT_FALSE(SettleBlock(plain, 3, nullptr, &store->dictionaries(), &untouched));

  // A corrupt dictionary id is an error, not a crash.
  std::string corrupt = with;
  ASSERT_GT(corrupt.size(), 8u);
  for (size_t i = 2; i < 8; ++i) corrupt[i] = '\xff';
  EXPECT_FALSE(
      BlockReader::Open(corrupt, BlockReadOptions{.dictionaries = &store->dictionaries()}).ok());
}

TEST_F(DictionaryStoreTest, ANewDictionaryCarriesZstdTablesThatShrinkSmallBlocks) {
  std::unique_ptr<Store> store = OpenStore("db");
  ASSERT_NE(store, nullptr);
  TemplateSampler sampler(TemplateSamplerOptions{.min_people = 1});
  for (int d = 0; d < 8; ++d) {
    for (int i = 0; i < 64; ++i) sampler.Observe(kApp, "u", "d", "Checkout", CommonMessage(d, i));
  }
  uint64_t samples = 0;
  const std::string content = sampler.BuildContent(kApp, &samples);
  absl::StatusOr<std::shared_ptr<const CompressionDictionary>> dictionary =
      store->dictionaries().Add(kApp, content, samples, 1);
  ASSERT_TRUE(dictionary.ok()) << dictionary.status();
  const DictionaryRecord& record = (*dictionary)->record();
  EXPECT_EQ(record.content(), content) << "the content stays as the sampler built it";
  ASSERT_GT(record.zstd_tables().size(), 8u);
  EXPECT_EQ(record.zstd_tables().substr(0, 4), "\x37\xa4\x30\xec") << "zstd's magic number";

  // The same content without tables, as dictionaries were before them.
  DictionaryRecord raw_record = record;
  raw_record.clear_zstd_tables();
  const CompressionDictionary raw((*dictionary)->id(), raw_record, 3);
  const std::string with_tables = CommonBlock(20, BlockEncoding{3, true, dictionary->get()});
  const std::string without = CommonBlock(20, BlockEncoding{3, true, &raw});
  EXPECT_LT(with_tables.size(), without.size());

  // Both read back through the stored dictionary: a block compressed before
  // the tables finds the same content in it.
  for (const std::string* payload : {&with_tables, &without}) {
    absl::StatusOr<BlockReader> read =
        BlockReader::Open(*payload, BlockReadOptions{.dictionaries = &store->dictionaries()});
    ASSERT_TRUE(read.ok()) << read.status();
    ASSERT_EQ(read->size(), 20u);
    for (size_t i = 0; i < read->size(); ++i) {
      EXPECT_EQ(read->message(i), CommonMessage(0, static_cast<int>(i)));
    }
  }

  // A dictionary too small for tables still compresses and reads.
  absl::StatusOr<std::shared_ptr<const CompressionDictionary>> tiny =
      store->dictionaries().Add(kApp, std::string(1, '\0') + "took", 1, 1);
  ASSERT_TRUE(tiny.ok()) << tiny.status();
  const std::string small = CommonBlock(20, BlockEncoding{3, true, tiny->get()});
  absl::StatusOr<BlockReader> read =
      BlockReader::Open(small, BlockReadOptions{.dictionaries = &store->dictionaries()});
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->message(19), CommonMessage(0, 19));
}

TEST_F(DictionaryStoreTest, RecordsWithoutTablesLoadAndDamagedTablesAreCorrupt) {
  TemplateSampler sampler(TemplateSamplerOptions{.min_people = 1});
  for (int i = 0; i < 64; ++i) sampler.Observe(kApp, "u", "d", "Checkout", CommonMessage(1, i));
  uint64_t samples = 0;
  DictionaryRecord record;
  record.set_app_id(kApp);
  record.set_content(sampler.BuildContent(kApp, &samples));
  const auto key = [](uint32_t id) {
    std::string key = "dict/";
    key.append({static_cast<char>(id >> 24), static_cast<char>(id >> 16),
                static_cast<char>(id >> 8), static_cast<char>(id)});
    return key;
  };
  {
    std::unique_ptr<Store> store = OpenStore("db");
    ASSERT_NE(store, nullptr);
    const auto put = [&](uint32_t id, const DictionaryRecord& r) {
      ASSERT_TRUE(store->db()
                      ->Put(rocksdb::WriteOptions(), store->family(Family::kApps), key(id),
                            r.SerializeAsString())
                      .ok());
    };
    put(5, record);  // as written before tables existed
    DictionaryRecord damaged = record;
    damaged.set_zstd_tables("\x37\xa4\x30\xec" + std::string(40, '\x5a'));
    put(6, damaged);  // zstd's magic number, then garbage
    damaged.set_zstd_tables("not tables");
    put(7, damaged);  // no magic number
  }
  std::unique_ptr<Store> store = OpenStore("db");
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->dictionaries().corrupt_records(), 2);
  EXPECT_EQ(store->dictionaries().Find(6), nullptr);
  EXPECT_EQ(store->dictionaries().Find(7), nullptr);
  std::shared_ptr<const CompressionDictionary> old = store->dictionaries().Find(5);
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(store->dictionaries().Newest(kApp), old);
  const std::string payload = CommonBlock(20, BlockEncoding{3, true, old.get()});
  absl::StatusOr<BlockReader> read =
      BlockReader::Open(payload, BlockReadOptions{.dictionaries = &store->dictionaries()});
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->message(3), CommonMessage(0, 3));
}

TEST_F(DictionaryStoreTest, AFleetOfSmallDevicesGetsADictionaryThatSurvivesARestart) {
  // 48,000 lines: the first 32,768 are all sampled, and the first
  // dictionary comes of them.
  constexpr int kDevices = 1200;
  constexpr int kLines = 40;
  uint64_t bytes_without = 0;
  {
    std::unique_ptr<Store> without = OpenStore("without", /*dictionaries=*/false);
    ASSERT_NE(without, nullptr);
    WriteFleet(*without, kDevices, kLines);
    EXPECT_EQ(without->dictionaries().Newest(kApp), nullptr);
    EXPECT_EQ(CheckEveryLine(*without, kDevices, kLines), 0);
    bytes_without = BlockBytes(*without);
  }
  std::unique_ptr<Store> store = OpenStore("with");
  ASSERT_NE(store, nullptr);
  WriteFleet(*store, kDevices, kLines);
  std::shared_ptr<const CompressionDictionary> dictionary = store->dictionaries().Newest(kApp);
  ASSERT_NE(dictionary, nullptr);
  EXPECT_GE(dictionary->record().samples(), 32768u);
  EXPECT_EQ(dictionary->record().min_people(), 8u);
  EXPECT_NE(dictionary->record().content().find("checkout took \x01 ms"), std::string::npos);
  EXPECT_EQ(dictionary->record().content().find("s-1"), std::string::npos)
      << "a session id is one device's";
  const int need_dictionary = CheckEveryLine(*store, kDevices, kLines);
  EXPECT_GT(need_dictionary, kDevices / 2);
  const uint64_t bytes_with = BlockBytes(*store);
  EXPECT_LT(bytes_with * 3, bytes_without * 2)
      << "with " << bytes_with << " B, without " << bytes_without << " B";

  // Reopened, the store still reads every block.
  const uint32_t id = dictionary->id();
  dictionary.reset();
  store.reset();
  store = OpenStore("with");
  ASSERT_NE(store, nullptr);
  ASSERT_NE(store->dictionaries().Find(id), nullptr);
  EXPECT_EQ(CheckEveryLine(*store, kDevices, kLines), need_dictionary);
}

TEST_F(DictionaryStoreTest, ACorruptDictionaryRecordCostsOnlyTheBlocksThatNameIt) {
  constexpr int kDevices = 1200, kLines = 40;
  uint32_t id = 0;
  {
    std::unique_ptr<Store> store = OpenStore("db");
    ASSERT_NE(store, nullptr);
    WriteFleet(*store, kDevices, kLines);
    ASSERT_NE(store->dictionaries().Newest(kApp), nullptr);
    id = store->dictionaries().Newest(kApp)->id();
    // A device written without common text, so none of its blocks needs it.
    std::vector<EntryView> entries(1);
    entries[0].seq = 1;
    entries[0].device_time_us = entries[0].receive_time_us = kBaseTime;
    entries[0].message = "plain";
    AppendRequest request;
    request.app = kApp;
    request.device_id = "plain-device";
    request.receive_time_us = kBaseTime;
    request.entries = entries;
    ASSERT_TRUE(store->writer().Append(request).ok());
    std::string key = "dict/";
    key.append({static_cast<char>(id >> 24), static_cast<char>(id >> 16),
                static_cast<char>(id >> 8), static_cast<char>(id)});
    ASSERT_TRUE(store->db()
                    ->Put(rocksdb::WriteOptions(), store->family(Family::kApps), key, "\xff\xff")
                    .ok());
  }
  std::unique_ptr<Store> store = OpenStore("db");
  ASSERT_NE(store, nullptr) << "a corrupt dictionary does not keep the store from opening";
  EXPECT_EQ(store->dictionaries().corrupt_records(), 1);
  EXPECT_EQ(store->dictionaries().Find(id), nullptr);
  Reader reader(*store);
  absl::StatusOr<std::vector<BlockRef>> blocks = reader.ListBlocks(kApp, "device-0");
  ASSERT_TRUE(blocks.ok() && !blocks->empty());
  absl::StatusOr<BlockReader> lost = reader.ReadBlock(kApp, "device-0", blocks->front().first_seq);
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(lost.status().message().find(absl::StrCat("dictionary ", id)), std::string::npos)
      << lost.status();
  blocks = reader.ListBlocks(kApp, "plain-device");
  ASSERT_TRUE(blocks.ok() && blocks->size() == 1u);
  absl::StatusOr<BlockReader> kept = reader.ReadBlock(kApp, "plain-device", 1);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->message(0), "plain");
  // A new dictionary never takes the corrupt one's id.
  absl::StatusOr<std::shared_ptr<const CompressionDictionary>> added =
      store->dictionaries().Add(kApp, std::string(1, '\0') + "text", 1, 1);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_GT((*added)->id(), id);
}

}  // namespace
}  // namespace fieldlog::store
