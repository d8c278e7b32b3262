/* rcnreid_cudnn_compat.h: cuDNN 8/9 replacements of the three algorithm queries that cuDNN 8.0
 * removed and Theano-PyMC 1.1.2's cuDNN convolutions still call (gpuarray/c_code/dnn_fwd.c,
 * dnn_gi.c, dnn_gw.c, the "guess" algorithm choice):
 *
 *   cudnnGetConvolutionForwardAlgorithm, cudnnGetConvolutionBackwardDataAlgorithm,
 *   cudnnGetConvolutionBackwardFilterAlgorithm and their *Preference_t enums.
 *
 * Added to every cuDNN op's headers by the fix "cudnn8_removed_algo_queries" of
 * rcnreid/backend/theano_fixes.py. With cuDNN < 8 it defines nothing (the originals exist).
 *
 * Each replacement asks the surviving heuristic query (the *_v7 call, whose results cuDNN
 * returns ordered by expected speed) and keeps the old call's contract:
 *   - NO_WORKSPACE: the fastest algorithm that needs no workspace;
 *   - PREFER_FASTEST: the fastest algorithm, whatever its workspace;
 *   - SPECIFY_WORKSPACE_LIMIT: the fastest algorithm whose workspace fits memoryLimitInBytes.
 * "Fastest" is the first usable result: status CUDNN_STATUS_SUCCESS and a workspace that fits.
 * Results computed with tensor-op math come after the others, because Theano then runs the
 * chosen algorithm with CUDNN_DEFAULT_MATH on float32/float64 (as cuDNN 7's call assumed) and
 * recomputes the workspace for it. No usable result: CUDNN_STATUS_NOT_SUPPORTED, which Theano
 * reports as "error selecting convolution algo".
 */
#ifndef RCNREID_CUDNN_COMPAT_H
#define RCNREID_CUDNN_COMPAT_H

#include <stddef.h>
#include <stdint.h>
#include <cudnn.h>

#if defined(CUDNN_MAJOR) && CUDNN_MAJOR >= 8

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

typedef enum {
  CUDNN_CONVOLUTION_FWD_NO_WORKSPACE = 0,
  CUDNN_CONVOLUTION_FWD_PREFER_FASTEST = 1,
  CUDNN_CONVOLUTION_FWD_SPECIFY_WORKSPACE_LIMIT = 2
} cudnnConvolutionFwdPreference_t;

typedef enum {
  CUDNN_CONVOLUTION_BWD_DATA_NO_WORKSPACE = 0,
  CUDNN_CONVOLUTION_BWD_DATA_PREFER_FASTEST = 1,
  CUDNN_CONVOLUTION_BWD_DATA_SPECIFY_WORKSPACE_LIMIT = 2
} cudnnConvolutionBwdDataPreference_t;

typedef enum {
  CUDNN_CONVOLUTION_BWD_FILTER_NO_WORKSPACE = 0,
  CUDNN_CONVOLUTION_BWD_FILTER_PREFER_FASTEST = 1,
  CUDNN_CONVOLUTION_BWD_FILTER_SPECIFY_WORKSPACE_LIMIT = 2
} cudnnConvolutionBwdFilterPreference_t;

/* The workspace a preference allows (the three enums share their numbering). */
static inline size_t rcnreid_cudnn_workspace_limit(int preference, size_t memoryLimitInBytes) {
  if (preference == 0) return 0;              /* NO_WORKSPACE */
  if (preference == 1) return SIZE_MAX;       /* PREFER_FASTEST */
  return memoryLimitInBytes;                  /* SPECIFY_WORKSPACE_LIMIT */
}

/* Index of the first usable result in perf[0..n) (ordered by speed), non-tensor-op math
 * first; -1 when none is usable. */
#define RCNREID_CUDNN_PICK(perf, n, limit, found)                                      \
  do {                                                                                 \
    int pass_, i_;                                                                     \
    (found) = -1;                                                                      \
    for (pass_ = 0; pass_ < 2 && (found) < 0; ++pass_)                                 \
      for (i_ = 0; i_ < (n) && (found) < 0; ++i_)                                      \
        if ((perf)[i_].status == CUDNN_STATUS_SUCCESS && (perf)[i_].memory <= (limit) \
            && (pass_ == 1 || (perf)[i_].mathType != CUDNN_TENSOR_OP_MATH))            \
          (found) = i_;                                                                \
  } while (0)

static inline cudnnStatus_t cudnnGetConvolutionForwardAlgorithm(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc,
    const cudnnFilterDescriptor_t wDesc, const cudnnConvolutionDescriptor_t convDesc,
    const cudnnTensorDescriptor_t yDesc, cudnnConvolutionFwdPreference_t preference,
    size_t memoryLimitInBytes, cudnnConvolutionFwdAlgo_t *algo) {
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT * 4];
  int n = 0, found;
  size_t limit = rcnreid_cudnn_workspace_limit((int)preference, memoryLimitInBytes);
  cudnnStatus_t err = cudnnGetConvolutionForwardAlgorithm_v7(
      handle, xDesc, wDesc, convDesc, yDesc, (int)(sizeof(perf) / sizeof(perf[0])), &n, perf);
  if (err != CUDNN_STATUS_SUCCESS) return err;
  RCNREID_CUDNN_PICK(perf, n, limit, found);
  if (found < 0) return CUDNN_STATUS_NOT_SUPPORTED;
  *algo = perf[found].algo;
  return CUDNN_STATUS_SUCCESS;
}

static inline cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm(
    cudnnHandle_t handle, const cudnnFilterDescriptor_t wDesc,
    const cudnnTensorDescriptor_t dyDesc, const cudnnConvolutionDescriptor_t convDesc,
    const cudnnTensorDescriptor_t dxDesc, cudnnConvolutionBwdDataPreference_t preference,
    size_t memoryLimitInBytes, cudnnConvolutionBwdDataAlgo_t *algo) {
  cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT * 4];
  int n = 0, found;
  size_t limit = rcnreid_cudnn_workspace_limit((int)preference, memoryLimitInBytes);
  cudnnStatus_t err = cudnnGetConvolutionBackwardDataAlgorithm_v7(
      handle, wDesc, dyDesc, convDesc, dxDesc, (int)(sizeof(perf) / sizeof(perf[0])), &n, perf);
  if (err != CUDNN_STATUS_SUCCESS) return err;
  RCNREID_CUDNN_PICK(perf, n, limit, found);
  if (found < 0) return CUDNN_STATUS_NOT_SUPPORTED;
  *algo = perf[found].algo;
  return CUDNN_STATUS_SUCCESS;
}

static inline cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc,
    const cudnnTensorDescriptor_t dyDesc, const cudnnConvolutionDescriptor_t convDesc,
    const cudnnFilterDescriptor_t dwDesc, cudnnConvolutionBwdFilterPreference_t preference,
    size_t memoryLimitInBytes, cudnnConvolutionBwdFilterAlgo_t *algo) {
  cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT * 4];
  int n = 0, found;
  size_t limit = rcnreid_cudnn_workspace_limit((int)preference, memoryLimitInBytes);
  cudnnStatus_t err = cudnnGetConvolutionBackwardFilterAlgorithm_v7(
      handle, xDesc, dyDesc, convDesc, dwDesc, (int)(sizeof(perf) / sizeof(perf[0])), &n, perf);
  if (err != CUDNN_STATUS_SUCCESS) return err;
  RCNREID_CUDNN_PICK(perf, n, limit, found);
  if (found < 0) return CUDNN_STATUS_NOT_SUPPORTED;
  *algo = perf[found].algo;
  return CUDNN_STATUS_SUCCESS;
}

#undef RCNREID_CUDNN_PICK

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif /* CUDNN_MAJOR >= 8 */
#endif /* RCNREID_CUDNN_COMPAT_H */
