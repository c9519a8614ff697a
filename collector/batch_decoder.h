// BatchDecoder: turns a Batch into the store's EntryViews, entry by entry:
// valid entries become views (pointing into the bytes or messages the batch
// was decoded from, which must outlive them), invalid ones become Rejections
// with a reason.
//
// This is the collector's whole decode-and-validate path after the wire
// (wire_batch.h), shared by the ingest service and the fuzz target
// (tests/fuzz/).
#ifndef FIELDLOG_COLLECTOR_BATCH_DECODER_H_
#define FIELDLOG_COLLECTOR_BATCH_DECODER_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "collector/wire_batch.h"
#include "fieldlog/v1/ingest.pb.h"
#include "store/block.h"

namespace fieldlog::collector {

struct DecodedBatch {
  std::vector<store::EntryView> entries;
  // The attributes the entries' spans point into.
  std::vector<store::AttributeView> attributes;
  std::vector<v1::Rejection> rejected;
  // For each rejection, its reason code (see EntryProblem).
  std::vector<const char*> rejected_codes;
};

// `now_us`: the server clock on arrival; `offset_estimate_us`: the batch's
// estimated clock offset, used to check times (nullopt: none). The batch must
// pass ValidateBatch first.
void DecodeBatch(const WireBatch& batch, int64_t now_us, std::optional<int64_t> offset_estimate_us,
                 DecodedBatch* out);

// The same for a parsed message (the views point into `batch`).
void DecodeBatch(const v1::Batch& batch, int64_t now_us, std::optional<int64_t> offset_estimate_us,
                 DecodedBatch* out);

}  // namespace fieldlog::collector

#endif  // FIELDLOG_COLLECTOR_BATCH_DECODER_H_
