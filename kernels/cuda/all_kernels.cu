// The one translation unit nvcc turns into minference_kernels.fatbin: a fatbin holds one module,
// so the kernel files are included here rather than device-linked.
#include "elementwise.cu"
#include "embedding.cu"
#include "rmsnorm.cu"
#include "rope.cu"
#include "flash_attention.cu"
#include "flash_attention_mma.cu"
#include "flash_attention_wgmma.cu"
#include "decode_attention.cu"
#include "logits.cu"
#include "attention_reference.cu"
#include "sparse_attention_mma.cu"
#include "sparse_index.cu"
