// How an OTLP export that is sent again is stored once.
//
// OTLP records carry no sequence number, and fieldlog's exactly-once (store/
// README.md) rests on one: each device keeps the set of seqs it has stored as
// at most 64 sorted ranges. Deriving a seq from a record's content (a hash, or
// time plus hash) would scatter seqs over the whole 64-bit space, one range
// per record; past 64 ranges the store joins the oldest ones, so any later
// record whose hash fell into a joined span would be taken for a duplicate
// and silently lost, and a device clock set back would lose everything until
// it caught up. So seqs are not derived from content:
//
//  - The collector numbers an OTLP device's lines itself, consecutively from
//    kOtlpSeqBase + 1 upwards, in arrival order, under a per-device lock. The
//    set stays one range, whatever order the lines' times are in.
//  - A retried record is recognised by content instead: before storing, the
//    collector reads the device's recent blocks (the last kRetryWindowLines
//    lines) whose time range meets the export's, and counts the stored lines
//    equal to an incoming one in every stored field (device time to the
//    microsecond, level, tag, message, file, line, function, user, session
//    and typed attributes). Each such stored line absorbs one incoming equal
//    line; the rest are new. The store itself is the record of what was
//    stored, so this holds across crashes and restarts with no extra state:
//    a write that reached the WAL is found, one that did not is stored anew.
//
// Limits, documented in docs/otlp.md:
//  - Two genuinely distinct records identical in every stored field (same
//    microsecond included), sent in different exports, are stored once;
//    within one export they are both stored.
//  - A retry that arrives after more than kRetryWindowLines newer lines of
//    the same device is stored again (a duplicate, never a loss).
//  - Lines of a retry deleted in between (erase-user, retention) are stored
//    again.
//  - A device id is fed either by the fieldlog agent or by OTLP, not both:
//    the agent numbers lines itself from 1. An OTLP record for a device whose
//    lines the agent numbered (its seqs are below kOtlpSeqBase) is rejected.
#ifndef FIELDLOG_COLLECTOR_OTLP_DEDUPE_H_
#define FIELDLOG_COLLECTOR_OTLP_DEDUPE_H_

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "collector/otlp_mapping.h"
#include "store/block.h"
#include "store/store.h"

namespace fieldlog::collector::otlp {

// OTLP lines of a device are numbered from kOtlpSeqBase + 1: far above any
// seq the agent reaches, and below 2^53, so seqs stay exact in JSON readers.
inline constexpr uint64_t kOtlpSeqBase = 1'000'000'000'000'000;

// How many of a device's newest lines a retry is compared with.
inline constexpr uint64_t kRetryWindowLines = 65536;

// The first seq for the next OTLP lines of a device whose highest stored seq
// is `watermark`.
inline uint64_t NextOtlpSeq(uint64_t watermark) { return std::max(watermark, kOtlpSeqBase) + 1; }

// True when the device's lines were numbered by the fieldlog agent.
inline bool IsAgentDevice(uint64_t watermark) { return watermark > 0 && watermark <= kOtlpSeqBase; }

// Every stored field of a line, encoded so that two lines are equal exactly
// when their keys are (seq, corrected and receive times excluded).
std::string LineKey(const store::EntryView& line);
std::string LineKey(const MappedRecord& record);

// For each of `records` (all of one device), whether the device's newest
// kRetryWindowLines lines already hold it (see the top of this file). The
// caller holds the device's OTLP lock, so nothing is stored in between.
absl::StatusOr<std::vector<bool>> FindStored(const store::Store& store, store::AppId app,
                                             absl::string_view device_id, uint64_t watermark,
                                             std::span<const MappedRecord> records);

}  // namespace fieldlog::collector::otlp

#endif  // FIELDLOG_COLLECTOR_OTLP_DEDUPE_H_
