// Precompiled header: LibTorch's headers dominate compile time (about 20 s per file on 2 cores).
#pragma once
#include <torch/torch.h>
