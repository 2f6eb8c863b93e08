// vit-eval's report of an Evaluation: a text for people (accuracy, loss, per-class accuracy, the
// confusion matrix) and one JSON object for programs with the same numbers at full precision.
#pragma once

#include <cstdint>
#include <string>

#include "score/evaluation.h"
#include "store/checkpoint.h"

namespace vit {

// Where the numbers come from.
struct ReportContext {
  std::string file;         // the checkpoint or model file evaluated
  StoredRun stored;         // what that file says about its run (step, epoch)
  std::string dataset;      // data.dataset
  std::string data_dir;     // data.dir
  std::string data_source;  // the data folder's SOURCE note
  int world_size = 1;       // ranks that scored the split
  std::string png;          // the misclassified-images grid written ("" for none)
  int64_t png_images = 0;   // images in that grid
};

std::string text_report(const Evaluation& evaluation, const ReportContext& context);

// One JSON object (keys listed in docs/evaluation.md), ending in a newline.
std::string json_report(const Evaluation& evaluation, const ReportContext& context);

}  // namespace vit
