"""CUDA/cuDNN support that can be built and checked without a CUDA GPU.

- ``rcnreid_cudnn_compat.h``: the cuDNN 8/9 replacements of the algorithm queries cuDNN 8
  removed, added to Theano's cuDNN ops by the fix ``cudnn8_removed_algo_queries``
  (:mod:`rcnreid.backend.theano_fixes`);
- :mod:`rcnreid.backend.cuda.headers`: the CUDA 12 and cuDNN headers of NVIDIA's PyPI wheels,
  fetched into a cache folder (include/ only);
- :mod:`rcnreid.backend.cuda.compile_check`: the C++ source of Theano's GPU convolution ops,
  generated without a device, compiled (syntax only) against those headers.
"""
