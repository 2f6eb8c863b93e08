// The fields of metrics.jsonl's lines, declared once: for each kind of line ("step", "epoch"),
// its keys in the order the line holds them, their JSON type, the TensorBoard tag each number is
// plotted under, whether it measures time (and so differs between two runs of one config), its
// unit and meaning. The writer takes its tags from here and refuses a line that disagrees;
// `vit-train --metric-schema` prints it for the scripts that read metrics.jsonl
// (tests/e2e/check_metrics.py, the e2e tests' comparisons, bench/), and docs.readme checks the
// tables of docs/run-directory.md against it. A new metric is one entry in declared_fields() (in
// metric_schema.cpp), the trainer's .add() of its value, and its rows in the docs.
#pragma once

#include <string>
#include <vector>

namespace vit {

enum class MetricType { kText, kInteger, kNumber };

// "text", "integer" or "number": the names of --metric-schema's "type".
const char* metric_type_name(MetricType type);

struct MetricField {
  std::string event;  // the kind of line that holds it: "step" or "epoch"
  std::string key;    // its JSON key
  MetricType type = MetricType::kNumber;
  std::string tag;      // its TensorBoard tag; "" for no scalar to plot (step, world_size, ...)
  bool timing = false;  // measures time: varies from run to run, left out when runs are compared
  std::string unit;     // "s", "images/s", "fraction" (0..1), ...; "" for counts and text
  std::string meaning;  // one phrase
};

class MetricSchema {
 public:
  // Throws vit::Error when a line kind does not start with its "event" field, an (event, key)
  // pair comes twice, or two fields share a tag (TensorBoard would merge them).
  explicit MetricSchema(std::vector<MetricField> fields);

  // In the order of the lines' fields, one kind of line after the other.
  const std::vector<MetricField>& fields() const { return fields_; }

  // The TensorBoard tag of `key` in lines of kind `event`, or "" where there is none.
  std::string tag(const std::string& event, const std::string& key) const;

  // Throws vit::Error naming the field at fault unless `keys` are exactly the fields of `event`
  // lines, in the declared order.
  void check_line(const std::string& event, const std::vector<std::string>& keys) const;

  // One JSON object per field, one a line, in the declared order: {"event":"step","key":"loss",
  // "type":"number","tag":"train/loss","timing":false,"unit":"","meaning":"..."}.
  std::string json_lines() const;

  // A metrics.jsonl line (as the writer wrote it) without its timing fields: what two runs of
  // one config have in common.
  std::string without_timings(const std::string& line) const;

 private:
  std::vector<MetricField> fields_;
};

// The fields vit-train writes.
const MetricSchema& metric_schema();

}  // namespace vit
