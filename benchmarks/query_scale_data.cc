#include "benchmarks/query_scale_data.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace fieldlog::bench {
namespace {

FleetSpec IdsSpec(const ScaleSpec& spec) {
  FleetSpec ids;
  ids.seed = spec.seed;
  ids.devices = spec.devices;
  ids.lines_per_device = 0;
  return ids;
}

// A uniform double in (0, 1) from a hash.
double Uniform(uint64_t h) { return (static_cast<double>(h >> 11) + 0.5) / 9007199254740992.0; }

}  // namespace

std::string PlantedMessage(Planted kind, uint64_t salt) {
  switch (kind) {
    case Planted::kRare:
      return absl::StrFormat(
          "certificate pinning failed for api.payments.example.com (%s), request %d dropped",
          kRareToken, salt % 100000);
    case Planted::kPaymentTimeout:
      return absl::StrFormat("checkout: PaymentTimeout after %d ms waiting for order %d",
                             5000 + salt % 30000, salt % 1000000);
    case Planted::kPaymentDeclined:
      return absl::StrFormat("checkout: PaymentDeclined (code %d) for order %d", salt % 90,
                             salt % 1000000);
    case Planted::kNone:
      break;
  }
  return "";
}

ScaleFleet::ScaleFleet(const ScaleSpec& spec) : spec_(spec), ids_(IdsSpec(spec)) {
  const int n = spec_.devices;
  counts_.assign(n, 0);
  heavy_.assign(n, false);
  const int heavy = std::min(spec_.heavy_devices, n);
  const uint64_t heavy_lines = static_cast<uint64_t>(spec_.heavy_lines_per_day) *
                               static_cast<uint64_t>(spec_.span_us / kDayUs);
  for (int k = 0; k < heavy; ++k) {
    const int d = static_cast<int>(static_cast<int64_t>(k) * n / heavy);
    heavy_[d] = true;
    heavy_list_.push_back(d);
    counts_[d] = static_cast<uint32_t>(heavy_lines);
  }
  const uint64_t used = heavy_lines * static_cast<uint64_t>(heavy);
  const uint64_t rest = spec_.lines > used ? spec_.lines - used : 0;
  // Log-normal weights, sigma 1.5 (Box-Muller over two hashes).
  std::vector<double> weights(n, 0);
  double sum = 0;
  for (int d = 0; d < n; ++d) {
    if (heavy_[d]) continue;
    const double u1 = Uniform(Mix(spec_.seed * 31 + static_cast<uint64_t>(d) * 2));
    const double u2 = Uniform(Mix(spec_.seed * 31 + static_cast<uint64_t>(d) * 2 + 1));
    const double normal = std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
    weights[d] = std::exp(1.5 * normal);
    sum += weights[d];
  }
  uint64_t assigned = 0;
  for (int d = 0; d < n; ++d) {
    if (heavy_[d]) continue;
    counts_[d] = std::max<uint32_t>(
        1, static_cast<uint32_t>(std::floor(weights[d] / sum * static_cast<double>(rest))));
    assigned += counts_[d];
  }
  // The rounding remainder, one line each to the first light devices.
  for (int d = 0; assigned < rest && n > 0; d = (d + 1) % n) {
    if (heavy_[d]) continue;
    ++counts_[d];
    ++assigned;
  }
  for (uint32_t c : counts_) total_ += c;
}

DeviceSchedule ScaleFleet::Schedule(int device) const {
  DeviceSchedule s;
  const uint32_t n = counts_[device];
  s.times.reserve(n);
  s.session.reserve(n);
  s.planted.reserve(n);
  const uint64_t base = Mix(spec_.seed ^ (uint64_t{0x5ca1e} << 32) ^ static_cast<uint64_t>(device));
  if (heavy_[device]) {
    // Evenly over the span, a session per 50 lines.
    const int64_t step = spec_.span_us / std::max<uint32_t>(n, 1);
    for (uint32_t j = 0; j < n; ++j) {
      const int64_t jitter =
          static_cast<int64_t>(Mix(base + j) % static_cast<uint64_t>(step / 2 + 1));
      s.times.push_back(spec_.start_us + step * j + jitter);
      s.session.push_back(j / 50);
    }
  } else {
    // Sessions of 1-60 lines at random moments, lines 0.2-3 s apart.
    std::vector<uint32_t> sizes;
    for (uint32_t left = n, k = 0; left > 0; ++k) {
      const uint32_t size = std::min<uint32_t>(left, 1 + Mix(base + 1000 + k) % 60);
      sizes.push_back(size);
      left -= size;
    }
    std::vector<int64_t> starts;
    for (size_t k = 0; k < sizes.size(); ++k) {
      starts.push_back(spec_.start_us +
                       static_cast<int64_t>(Mix(base + 2000 + k) %
                                            static_cast<uint64_t>(spec_.span_us - 2 * kHourUs)));
    }
    std::sort(starts.begin(), starts.end());
    int64_t t = 0;
    uint32_t j = 0;
    for (size_t k = 0; k < sizes.size(); ++k) {
      t = std::max(t + 1'000'000, starts[k]);
      for (uint32_t i = 0; i < sizes[k]; ++i, ++j) {
        if (i > 0) t += 200'000 + static_cast<int64_t>(Mix(base + 3000 + j) % 2'800'000);
        s.times.push_back(t);
        s.session.push_back(static_cast<uint32_t>(k));
      }
    }
  }
  for (uint32_t j = 0; j < n; ++j) {
    const uint64_t h = Mix(base ^ (uint64_t{0x91a} << 40) ^ j);
    Planted p = Planted::kNone;
    if (spec_.rare_every > 0 && h % static_cast<uint64_t>(spec_.rare_every) == 0) {
      p = Planted::kRare;
    } else if (spec_.payment_every > 0 &&
               (h >> 20) % static_cast<uint64_t>(spec_.payment_every) == 0) {
      p = Planted::kPaymentTimeout;
    } else if (spec_.payment_every > 0 &&
               (h >> 40) % static_cast<uint64_t>(spec_.payment_every) == 0) {
      p = Planted::kPaymentDeclined;
    }
    s.planted.push_back(p);
  }
  return s;
}

DeviceLines ScaleFleet::Lines(int device) const {
  DeviceLines out;
  out.schedule = Schedule(device);
  const size_t n = out.schedule.times.size();
  LineGenerator generator(Mix(spec_.seed * 1'000'003 + static_cast<uint64_t>(device)));
  out.lines.reserve(n);
  for (size_t j = 0; j < n; ++j) {
    CorpusLine line = generator.Next();
    if (out.schedule.planted[j] != Planted::kNone) {
      line.level = v1::LEVEL_ERROR;
      line.message = PlantedMessage(out.schedule.planted[j], Mix(device * 7 + j));
    }
    out.lines.push_back(std::move(line));
  }
  const uint32_t sessions = n == 0 ? 0 : out.schedule.session.back() + 1;
  for (uint32_t k = 0; k < sessions; ++k) {
    const uint64_t a = Mix((static_cast<uint64_t>(device) << 24) ^ k ^ (spec_.seed << 56));
    out.session_ids.push_back(absl::StrFormat("%016x%016x", a, Mix(a)));
  }
  return out;
}

}  // namespace fieldlog::bench
