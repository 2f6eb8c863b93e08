// Seconds since this process started (more exactly: since its static initialisation), for the
// "elapsed_s" of metrics lines, from which time-to-accuracy is read.
#pragma once

namespace vit {

double uptime_s();

}  // namespace vit
