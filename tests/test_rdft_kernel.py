"""The RDFT kernel by matmul against numpy's float64 inverse real FFT and
against tensorflow-compression's own FFT-based `RDFTParameter`."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from resizer_tf.codecs import rdft_kernel
from resizer_tf.codecs import tfc_codec

SHAPES = [(5, 5, 16, 12), (9, 9, 3, 8), (9, 9, 8, 3), (3, 3, 4, 5),
          (4, 4, 2, 3), (3, 5, 2, 2)]


def _parameter(shape, seed=0):
  return tfc.RDFTParameter(
      tf.random.stateless_normal(shape, seed=(seed, 1)))


def _numpy_kernel(parameter):
  """K * irfft2d of the spectrum in float64, as [K1, K2, C_in, C_out]."""
  k1, k2 = parameter.shape[:2]
  spectrum = (parameter.real.numpy().astype(np.float64) +
              1j * parameter.imag.numpy().astype(np.float64))
  return (np.fft.irfft2(spectrum, s=(k1, k2)) *
          np.sqrt(k1 * k2)).transpose(2, 3, 0, 1)


@pytest.mark.parametrize("shape", SHAPES)
def test_kernel_matches_float64_irfft_and_tfc(shape):
  parameter = _parameter(shape)
  got = rdft_kernel.rdft_kernel(parameter).numpy()
  assert got.shape == shape and got.dtype == np.float32
  truth = _numpy_kernel(parameter)
  scale = np.abs(truth).max()
  # float32 rounding of a sum of 2 K (K // 2 + 1) terms; tfc's FFT is
  # itself ~1e-6 away from the float64 truth at K = 9.
  np.testing.assert_allclose(got, truth, atol=1e-6 * scale, rtol=0)
  np.testing.assert_allclose(got, parameter().numpy(), atol=3e-6 * scale,
                             rtol=0)


@pytest.mark.parametrize("shape", [(5, 5, 6, 4), (9, 9, 3, 5), (4, 4, 2, 3)])
def test_gradient_matches_tfc_fft(shape):
  parameter = _parameter(shape, seed=2)
  cotangent = tf.random.stateless_normal(shape, seed=(3, 4))

  def grads(fn):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(fn() * cotangent)
    return [g.numpy() for g in tape.gradient(loss, [parameter.real,
                                                    parameter.imag])]

  ours = grads(lambda: rdft_kernel.rdft_kernel(parameter))
  theirs = grads(parameter)
  for a, b in zip(ours, theirs):
    np.testing.assert_allclose(a, b, atol=2e-5 * np.abs(b).max(), rtol=0)
  # The map is linear, so the gradient is its adjoint applied to the
  # cotangent: a finite difference along a random spectrum is exact up to
  # float rounding.
  direction = tf.random.stateless_normal(parameter.real.shape, seed=(5, 6))
  base = rdft_kernel.rdft_kernel(parameter)
  parameter.real.assign_add(direction)
  step = rdft_kernel.rdft_kernel(parameter) - base
  np.testing.assert_allclose(
      float(tf.reduce_sum(step * cotangent)),
      float(tf.reduce_sum(direction * ours[0])), rtol=1e-4)


def test_half_precision_is_the_float32_kernel_cast():
  parameter = _parameter((5, 5, 4, 4))
  half = rdft_kernel.rdft_kernel(parameter, tf.float16)
  assert half.dtype == tf.float16
  np.testing.assert_array_equal(
      half.numpy(), rdft_kernel.rdft_kernel(parameter).numpy().astype(
          np.float16))


def test_matrix_is_built_once_per_size_even_while_tracing():
  rdft_kernel.inverse_rdft_matrix.cache_clear()
  parameter = _parameter((5, 5, 2, 2))
  traced = tf.function(lambda: rdft_kernel.rdft_kernel(parameter))
  np.testing.assert_allclose(traced().numpy(), _numpy_kernel(parameter),
                             atol=1e-5)
  rdft_kernel.rdft_kernel(parameter)
  assert rdft_kernel.inverse_rdft_matrix.cache_info().misses == 1


def test_signal_conv_uses_the_matmul_kernel_and_equals_tfc_layer(
    monkeypatch):
  x = tf.random.stateless_normal([2, 17, 13, 6], seed=(7, 8))
  calls = []
  original = rdft_kernel.rdft_kernel
  monkeypatch.setattr(rdft_kernel, "rdft_kernel",
                      lambda *a: calls.append(1) or original(*a))
  for down in (True, False):
    ours = tfc_codec.signal_conv(5, 5, 2, down)
    ours(x)
    assert calls, "the layer did not derive its kernel by the matmul"
    reference = tfc.SignalConv2D.from_config(
        {**tfc.SignalConv2D.get_config(ours)})
    reference(x)
    reference.set_weights(ours.get_weights())
    np.testing.assert_allclose(
        ours.kernel.numpy(), _numpy_kernel(ours.kernel_parameter), atol=1e-6)
    np.testing.assert_allclose(ours(x).numpy(), reference(x).numpy(),
                               atol=2e-5)
    # Only 2-D RDFT kernels take the matmul; a plain variable is read as is.
    plain = tfc_codec.signal_conv(5, 3, 1, down, kernel_parameter="variable")
    plain(x)
    assert plain.kernel is plain.kernel_parameter or np.array_equal(
        plain.kernel.numpy(), plain.kernel_parameter.numpy())


def test_other_parameters_are_not_matmul_compatible():
  assert rdft_kernel.is_matmul_compatible(_parameter((3, 3, 2, 2)))
  assert not rdft_kernel.is_matmul_compatible(
      tfc.RDFTParameter(tf.zeros([3, 2, 2])))
  assert not rdft_kernel.is_matmul_compatible(tf.Variable(tf.zeros([3, 3])))
