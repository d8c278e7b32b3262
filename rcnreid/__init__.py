"""rcnreid: Deep Recurrent Convolutional Networks for video-based person re-identification.

Importing this package does not import Theano. Every module that builds Theano graphs imports
:mod:`rcnreid.theano_env` first, which configures Theano (float32, BLAS, scan) before its first
import; see that module for the workarounds in force.
"""
__version__ = "0.1.0"
