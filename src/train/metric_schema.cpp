#include "train/metric_schema.h"

#include <regex>
#include <set>
#include <utility>

#include "util/error.h"
#include "util/json.h"  // JsonLine

namespace vit {

namespace {

constexpr MetricType kText = MetricType::kText;
constexpr MetricType kInteger = MetricType::kInteger;
constexpr MetricType kNumber = MetricType::kNumber;
constexpr bool kTiming = true;

// The lines vit-train writes, field by field in the order they hold them (metrics.jsonl compared
// across resumes and releases: a reordering changes every line). Tags grouped by what a reader
// compares: train/, test/, and perf/ for the speed of the run; the two kinds of line never share
// a tag, since an epoch ends on a step that may have its own step line.
std::vector<MetricField> declared_fields() {
  return {
      {"step", "event", kText, "", false, "", "the kind of line: step"},
      {"step", "step", kInteger, "", false, "", "optimizer steps done in the run"},
      {"step", "epoch", kInteger, "", false, "", "the epoch, counted from 1"},
      {"step", "loss", kNumber, "train/loss", false, "", "this step's mean cross-entropy"},
      {"step", "lr", kNumber, "train/lr", false, "", "this step's learning rate"},
      {"step", "images_per_s", kNumber, "perf/images_per_s", kTiming, "images/s",
       "training images of all ranks per second since the previous step line"},
      {"step", "step_s", kNumber, "perf/step_s", kTiming, "s",
       "wall seconds per step since the previous step line"},
      {"step", "allreduce_s", kNumber, "perf/allreduce_s", kTiming, "s",
       "rank 0's seconds in the gradient all-reduce per step"},
      {"step", "world_size", kInteger, "", false, "", "ranks of the job"},

      {"epoch", "event", kText, "", false, "", "the kind of line: epoch"},
      {"epoch", "epoch", kInteger, "", false, "", "the epoch, counted from 1"},
      {"epoch", "step", kInteger, "", false, "", "optimizer steps done in the run"},
      {"epoch", "train_loss", kNumber, "train/epoch_loss", false, "",
       "mean training loss over the epoch"},
      {"epoch", "test_loss", kNumber, "test/loss", false, "", "mean cross-entropy on the test set"},
      {"epoch", "test_acc", kNumber, "test/accuracy", false, "fraction",
       "accuracy on the test set"},
      {"epoch", "images_per_s", kNumber, "perf/epoch_images_per_s", kTiming, "images/s",
       "training images of all ranks per second of the epoch's training"},
      {"epoch", "epoch_s", kNumber, "perf/epoch_s", kTiming, "s",
       "wall seconds of the epoch's training"},
      {"epoch", "allreduce_s", kNumber, "perf/epoch_allreduce_s", kTiming, "s",
       "rank 0's seconds in the gradient all-reduce over the epoch"},
      {"epoch", "world_size", kInteger, "", false, "", "ranks of the job"},
      {"epoch", "lr", kNumber, "train/epoch_lr", false, "", "the epoch's last learning rate"},
      {"epoch", "elapsed_s", kNumber, "", kTiming, "s", "seconds since this process started"},
      {"epoch", "gflop_per_s", kNumber, "perf/epoch_gflop_per_s", kTiming, "GFLOP/s",
       "images_per_s times the model's training FLOPs per image (docs/measurements.md#flops)"},
      {"epoch", "peak_mem_mb", kNumber, "perf/peak_mem_mb", kTiming, "MiB",
       "rank 0's peak memory so far: GPU tensors (CUDA allocator) or the CPU's resident set"},

      {"val", "event", kText, "", false, "",
       "the kind of line: val (data.val_split; just before its epoch's line)"},
      {"val", "epoch", kInteger, "", false, "", "the epoch, counted from 1"},
      {"val", "step", kInteger, "", false, "", "optimizer steps done in the run"},
      {"val", "val_loss", kNumber, "val/loss", false, "",
       "mean cross-entropy on the validation split"},
      {"val", "val_acc", kNumber, "val/accuracy", false, "fraction",
       "accuracy on the validation split"},
      {"val", "val_images", kInteger, "", false, "", "images of the validation split"},
      {"val", "world_size", kInteger, "", false, "", "ranks of the job"},

      {"eval", "event", kText, "", false, "", "the kind of line: eval (train.eval_every_steps)"},
      {"eval", "step", kInteger, "", false, "", "optimizer steps done in the run"},
      {"eval", "epoch", kInteger, "", false, "", "the epoch under way, counted from 1"},
      {"eval", "test_loss", kNumber, "test/periodic_loss", false, "",
       "mean cross-entropy on the test set at this step"},
      {"eval", "test_acc", kNumber, "test/periodic_accuracy", false, "fraction",
       "accuracy on the test set at this step"},
      {"eval", "train_s", kNumber, "perf/train_s", kTiming, "s",
       "seconds this process has trained so far (evaluations excluded): time to accuracy"},
      {"eval", "world_size", kInteger, "", false, "", "ranks of the job"},
      {"eval", "elapsed_s", kNumber, "", kTiming, "s", "seconds since this process started"},
      // A restart by launch/train.sh --max-restarts (or a SLURM script): at the step resumed from.
      {"restart", "event", kText, "", false, "",
       "the kind of line: restart (launch/train.sh --max-restarts; at the step resumed from)"},
      {"restart", "step", kInteger, "", false, "", "the step training goes on from"},
      {"restart", "epoch", kInteger, "", false, "", "the epoch under way, counted from 1"},
      {"restart", "attempt", kInteger, "restart/attempt", false, "",
       "this restart's number, from 1"},
      {"restart", "max_restarts", kInteger, "", false, "", "the limit (--max-restarts)"},
      {"restart", "world_size", kInteger, "restart/world_size", false, "",
       "ranks of the restarted job (fewer when machines were left out)"},
      {"restart", "cause", kText, "", false, "", "what ended the previous attempt"},
  };
}

}  // namespace

const char* metric_type_name(MetricType type) {
  switch (type) {
    case MetricType::kText:
      return "text";
    case MetricType::kInteger:
      return "integer";
    case MetricType::kNumber:
      return "number";
  }
  return "?";
}

MetricSchema::MetricSchema(std::vector<MetricField> fields) : fields_(std::move(fields)) {
  std::set<std::string> events;
  std::set<std::pair<std::string, std::string>> keys;
  std::set<std::string> tags;
  for (const MetricField& field : fields_) {
    if (events.insert(field.event).second) {
      VIT_CHECK(field.key == "event", "metric schema: ", field.event,
                " lines must start with their \"event\" field, not ", field.key);
    }
    VIT_CHECK(keys.insert({field.event, field.key}).second, "metric schema: ", field.event,
              " lines declare ", field.key, " twice");
    VIT_CHECK(field.tag.empty() || tags.insert(field.tag).second, "metric schema: the tag ",
              field.tag, " is given twice");
  }
}

std::string MetricSchema::tag(const std::string& event, const std::string& key) const {
  for (const MetricField& field : fields_) {
    if (field.event == event && field.key == key) return field.tag;
  }
  return "";
}

void MetricSchema::check_line(const std::string& event,
                              const std::vector<std::string>& keys) const {
  size_t at = 0;
  for (const MetricField& field : fields_) {
    if (field.event != event) continue;
    VIT_CHECK(at < keys.size(), "metrics line of event \"", event, "\" lacks ", field.key,
              " (src/train/metric_schema.cpp declares it)");
    VIT_CHECK(keys[at] == field.key, "metrics line of event \"", event, "\" has ", keys[at],
              " where src/train/metric_schema.cpp declares ", field.key);
    ++at;
  }
  VIT_CHECK(at > 0, "metrics line of event \"", event,
            "\": no such event in src/train/metric_schema.cpp");
  VIT_CHECK(at == keys.size(), "metrics line of event \"", event, "\" has ", keys[at],
            ", which src/train/metric_schema.cpp does not declare");
}

std::string MetricSchema::json_lines() const {
  std::string out;
  for (const MetricField& field : fields_) {
    out += JsonLine()
               .add("event", field.event)
               .add("key", field.key)
               .add("type", metric_type_name(field.type))
               .add("tag", field.tag)
               .add("timing", field.timing)
               .add("unit", field.unit)
               .add("meaning", field.meaning)
               .str() +
           "\n";
  }
  return out;
}

std::string MetricSchema::without_timings(const std::string& line) const {
  std::set<std::string> timings;
  for (const MetricField& field : fields_) {
    if (field.timing) timings.insert(field.key);
  }
  if (timings.empty()) return line;
  std::string alternatives;
  for (const std::string& key : timings) alternatives += (alternatives.empty() ? "" : "|") + key;
  // A timing field is never first ("event" is): each goes with the comma before it.
  const std::regex timing(",\"(" + alternatives + ")\":[^,}]*");
  return std::regex_replace(line, timing, "");
}

const MetricSchema& metric_schema() {
  static const MetricSchema schema(declared_fields());
  return schema;
}

}  // namespace vit
