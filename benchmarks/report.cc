#include "benchmarks/report.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fieldlog::bench {
namespace {

absl::string_view BetterName(Better better) {
  return better == Better::kHigher ? "higher" : "lower";
}

std::optional<Gate> ParseGate(const std::string& name) {
  if (name == "ratio") return Gate::kRatio;
  if (name == "size") return Gate::kSize;
  if (name == "absolute") return Gate::kAbsolute;
  return std::nullopt;
}

}  // namespace

absl::string_view GateName(Gate gate) {
  switch (gate) {
    case Gate::kRatio:
      return "ratio";
    case Gate::kSize:
      return "size";
    case Gate::kAbsolute:
      return "absolute";
  }
  return "absolute";
}

std::string HumanNumber(double value) {
  if (!std::isfinite(value)) return "n/a";
  const double magnitude = std::fabs(value);
  if (magnitude >= 1e9) return absl::StrFormat("%.3g G", value / 1e9);
  if (magnitude >= 1e6) return absl::StrFormat("%.3g M", value / 1e6);
  if (magnitude >= 1e4) return absl::StrFormat("%.3g k", value / 1e3);
  if (magnitude >= 100) return absl::StrFormat("%.0f", value);
  return absl::StrFormat("%.3g", value);
}

void Report::Set(absl::string_view name, double value, absl::string_view unit, Better better,
                 Gate gate, absl::string_view description) {
  Figure figure{std::string(name), value,   std::string(unit),
                better,            gate,    std::string(description)};
  for (Figure& f : figures_) {
    if (f.name == name) {
      f = std::move(figure);
      return;
    }
  }
  figures_.push_back(std::move(figure));
}

const Figure* Report::Find(absl::string_view name) const {
  for (const Figure& f : figures_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

void Report::SetTolerance(absl::string_view name, double tolerance) {
  for (Figure& f : figures_) {
    if (f.name == name) f.tolerance = tolerance;
  }
}

nlohmann::ordered_json Report::ToJson() const {
  nlohmann::ordered_json json;
  json["format"] = std::string(kReportFormat);
  json["conditions"] = conditions_;
  nlohmann::ordered_json figures = nlohmann::ordered_json::object();
  for (const Figure& f : figures_) {
    nlohmann::ordered_json figure;
    figure["value"] = std::isfinite(f.value) ? nlohmann::ordered_json(f.value) : nullptr;
    figure["unit"] = f.unit;
    figure["better"] = std::string(BetterName(f.better));
    figure["gate"] = std::string(GateName(f.gate));
    if (f.tolerance) figure["tolerance"] = *f.tolerance;
    figure["description"] = f.description;
    figures[f.name] = std::move(figure);
  }
  json["figures"] = std::move(figures);
  return json;
}

absl::StatusOr<Report> Report::FromJson(const nlohmann::ordered_json& json) {
  if (!json.is_object() || json.value("format", "") != kReportFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a fieldlog-bench report (no \"format\": \"", kReportFormat, "\")"));
  }
  Report report;
  if (json.contains("conditions")) report.conditions_ = json["conditions"];
  if (!json.contains("figures") || !json["figures"].is_object()) {
    return absl::InvalidArgumentError("the report has no \"figures\" object");
  }
  for (const auto& [name, f] : json["figures"].items()) {
    if (!f.is_object()) return absl::InvalidArgumentError(absl::StrCat(name, ": not an object"));
    Figure figure;
    figure.name = name;
    figure.value = f.contains("value") && f["value"].is_number() ? f["value"].get<double>() : NAN;
    figure.unit = f.value("unit", "");
    figure.better = f.value("better", "higher") == "lower" ? Better::kLower : Better::kHigher;
    std::optional<Gate> gate = ParseGate(f.value("gate", "absolute"));
    if (!gate) return absl::InvalidArgumentError(absl::StrCat(name, ": unknown gate"));
    figure.gate = *gate;
    figure.description = f.value("description", "");
    if (f.contains("tolerance") && f["tolerance"].is_number()) {
      figure.tolerance = f["tolerance"].get<double>();
    }
    report.figures_.push_back(std::move(figure));
  }
  return report;
}

absl::StatusOr<Report> Report::ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  nlohmann::ordered_json json =
      nlohmann::ordered_json::parse(in, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, ": not JSON"));
  absl::StatusOr<Report> report = FromJson(json);
  if (!report.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", report.status().message()));
  }
  return report;
}

absl::Status Report::WriteFile(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << ToJson().dump(2) << "\n";
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

std::string Report::Table() const {
  size_t name_width = 6;
  for (const Figure& f : figures_) name_width = std::max(name_width, f.name.size());
  std::ostringstream out;
  std::string section;
  for (const Figure& f : figures_) {
    const std::string phase = f.name.substr(0, f.name.find('.'));
    if (phase != section) {
      if (!section.empty()) out << "\n";
      section = phase;
    }
    out << absl::StrFormat("  %-*s %10s %-12s %s\n", static_cast<int>(name_width), f.name,
                           HumanNumber(f.value), f.unit, f.description);
  }
  return out.str();
}

}  // namespace fieldlog::bench
