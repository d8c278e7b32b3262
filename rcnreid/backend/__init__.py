"""The computing backend: Theano configured and repaired (``theano_env``, ``theano_fixes``),
CPU threads and OpenBLAS kernels (``threads``), what a GPU needs (``gpu_probe``, ``cuda/``) and
CPU convolutions through oneDNN (``onednn_conv``, ``onednn/``). The lowest floor above
:mod:`rcnreid.errors` and :mod:`rcnreid.store`: nothing here knows the network.

Importing this package imports nothing; :mod:`rcnreid.backend.theano_env` is the start-up."""
