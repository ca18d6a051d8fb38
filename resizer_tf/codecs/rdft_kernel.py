"""Convolution kernels from tfc's RDFT parameterisation, by one matmul.

tensorflow-compression parameterises SignalConv2D kernels by their real
DFT ("rdft"; Ballé et al., "Efficient nonlinear transforms for lossy image
compression", PCS 2018, Sec. 2 -- the Ballé17/18 and Cheng20 transforms all
train this way): `tfc.RDFTParameter` keeps the spectrum as two variables
`real`, `imag` of shape [C_in, C_out, K, K // 2 + 1] and derives the kernel
with `tf.signal.irfft2d` over the last two axes, times K, transposed to
[K, K, C_in, C_out].

That inverse transform is a real-linear map from the 2 K (K // 2 + 1)
spectrum values of each (C_in, C_out) pair to its K^2 taps, the same for
every pair. TF's CPU FFT runs it as C_in C_out tiny transforms, and with its
gradient it took about 85 of the 112 ms of one 5x5, 128 -> 128 Ballé17
layer's forward + backward on a 8x32x32x128 batch (the convolution itself:
~20 ms), i.e. most of a Ballé17 training step (docs/train_speed.md). Here
the map is a [2 F, K^2] matrix, built once per K by applying `irfft2d` to
the unit spectra in float64, and the kernel is one matmul; its gradient is
one matmul too. Same variables, same maths: the kernel is within 1e-6 of
the largest tap of a float64 inverse FFT (closer than TF's float32 FFT) and
within 3e-6 of `RDFTParameter()` (tests/test_rdft_kernel.py), and the
weights of models trained either way are interchangeable.
"""
import functools

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc


@functools.lru_cache(maxsize=None)
def inverse_rdft_matrix(k1, k2):
  """float64 [2 * k1 * (k2 // 2 + 1), k1 * k2]: rows map the real then the
  imaginary parts of a [k1, k2 // 2 + 1] spectrum to the row-major taps of
  K * irfft2d(spectrum, (k1, k2)) (`RDFTParameter.__call__`'s scaling).

  Computed by TF's own `irfft2d` on unit spectra, so conventions it applies
  to non-Hermitian input (e.g. dropping the imaginary part of the DC bin)
  are reproduced exactly."""
  f = k2 // 2 + 1
  n = k1 * f
  eye = np.eye(2 * n)
  with tf.init_scope():  # eager even when first called while tracing
    spectra = tf.complex(tf.constant(eye[:, :n].reshape(2 * n, k1, f)),
                         tf.constant(eye[:, n:].reshape(2 * n, k1, f)))
    taps = tf.signal.irfft2d(spectra, fft_length=[k1, k2]).numpy()
  return taps.reshape(2 * n, k1 * k2) * np.sqrt(k1 * k2)


def is_matmul_compatible(parameter):
  """Whether `parameter` is a 2-D-kernel `tfc.RDFTParameter`."""
  return (isinstance(parameter, tfc.RDFTParameter) and
          parameter.shape.rank == 4)


def rdft_kernel(parameter, compute_dtype=None):
  """The kernel [K1, K2, C_in, C_out] of a rank-4 `tfc.RDFTParameter`, as
  `tfc.SignalConv2D.kernel` gives it, by one matmul (module docstring):
  computed in the variables' dtype, then cast to `compute_dtype` (e.g.
  float16 under mixed precision)."""
  k1, k2, c_in, c_out = parameter.shape.as_list()
  real, imag = parameter.real, parameter.imag
  dtype = real.dtype
  spectrum = tf.concat([tf.reshape(real, [c_in * c_out, -1]),
                        tf.reshape(imag, [c_in * c_out, -1])], axis=1)
  matrix = tf.constant(inverse_rdft_matrix(k1, k2), dtype)
  kernel = tf.reshape(tf.matmul(spectrum, matrix), [c_in, c_out, k1, k2])
  kernel = tf.transpose(kernel, (2, 3, 0, 1))
  if compute_dtype is not None:
    kernel = tf.cast(kernel, compute_dtype)
  return kernel
