"""Receptive fields and tile loops for coding large images in bounded memory.

Resize-Compress (Chen et al., Sec. III, Fig. 3) runs five networks at full
resolution: ResizeParamNet (Table I; all of it except the global pooling),
the Pre-filter and Post-filter (Table I), the two warps (Sec. III-B, Eq. 3-5)
and the codec's analysis g_a and synthesis g_s (Sec. III-A, IV-B). Each is a
stack of local operations, so an output window depends only on an input
window a fixed number of samples wider: its receptive field. Coding a large
image runs each network on overlapping input windows ("tiles") and crops the
outputs to the part that saw only real input (`resize_compress.py`); the
entropy coding of the latent stays whole (latents are 256 times smaller).

This module states every receptive field from the layer definitions, as
`need(a, b)`: the inclusive input interval [lo, hi] that the inclusive output
interval [a, b] reads along one spatial axis (the layers are the same along
both axes). Unclipped: indices below 0 or past the end are the layers' zero
padding, which a tile only sees at the image border, exactly where the whole
image sees it. Per layer type (checked against the layers themselves by
impulse responses in tests/test_tiling.py):

  * correlation, kernel k, stride s ("same_zeros" SignalConv2D pads
    k // 2 before; Keras "same" Conv2D with odd k, s = 1, pads the same):
      [s a - k // 2,  s b - k // 2 + k - 1]
  * transposed convolution ("same_zeros" SignalConv2D, up-sampling u): input
    i feeds up-sampled position u i, and output o reads up-sampled positions
    [o - k // 2, o + (k - 1) // 2]:
      [ceil((a - k // 2) / u),  floor((b + (k - 1) // 2) / u)]
  * 2x2/2 max pooling, "same": [2 a, 2 b + 1]
  * depth-to-space by 2 (sub-pixel convolution): [floor(a / 2), floor(b / 2)]
  * subsampling x[::2]: [2 a, 2 b]
  * GDN/IGDN, BatchNorm (inference), ReLU, tanh, sigmoid, bias: pointwise in
    space, no spread
  * residual / parallel branches: the union of the branches' intervals.

A tile's crop must also keep the sampling phase of every strided layer: the
first input sample of an analysis tile is a multiple of the total stride S
(16 for every codec, 8 for ResizeParamNet's three poolings), which
`down_halo` rounds its halo up to. The synthesis needs no alignment: latent
l always produces output samples [U l, U l + U).

Halos of the shipped networks (input samples beyond the output window, per
side; `describe()` computes them):
  Ballé17 g_a 9x9/4, 5x5/2, 5x5/2:   latent a reads pixels [16a-28, 16a+28]:
                                     28 before (32 aligned), 13 after
  Ballé17 g_s 5x5 x2, 5x5 x2, 9x9 x4: 1 latent before, 2 after
  Ballé18 g_a 4 x 5x5/2:             [16a-30, 16a+30]: 30 (32 aligned), 15
  Ballé18 g_s 4 x 5x5 x2:            1 latent before, 2 after
  Cheng20 g_a (residual, attention):  128 aligned, 102 after
  Cheng20 g_s:                        11 latents before, 11 after
  ResizeParamNet (3 stages):          14 (16 aligned), 14 after
  Pre-/Post-filter (3 x 3x3):         3, 3
The warp (Eq. 3-5) is not shift-invariant: output i reads the 4 (bicubic)
or 2 (bilinear) taps around min(i / M, n - 1), clamped to the image; see
`layers._warp_ops.window_input_range`.
"""
import tensorflow as tf


class _Layer:
  """One spatial operation: `need(a, b)` -> input interval (Python ints)."""

  def need(self, a, b):
    raise NotImplementedError


class Conv(_Layer):
  """A "same"-padded convolution: correlation with stride `down`, or
  transposed convolution up-sampling by `up` (see the module docstring)."""

  def __init__(self, kernel, down=1, up=1):
    if down > 1 and up > 1:
      raise ValueError("A layer either down- or up-samples.")
    self.kernel, self.down, self.up = int(kernel), int(down), int(up)

  def need(self, a, b):
    k = self.kernel
    if self.up == 1:
      s = self.down
      return s * a - k // 2, s * b - k // 2 + k - 1
    u = self.up
    return -(-(a - k // 2) // u), (b + (k - 1) // 2) // u


class MaxPool(_Layer):
  """2x2 max pooling with stride 2, "same" padding."""

  def need(self, a, b):
    return 2 * a, 2 * b + 1


class DepthToSpace(_Layer):
  def need(self, a, b):
    return a // 2, b // 2


class Subsample(_Layer):
  """x[::2]."""

  def need(self, a, b):
    return 2 * a, 2 * b


class Chain(_Layer):
  """Layers applied in order (the first layer sees the input)."""

  def __init__(self, *layers):
    self.layers = layers

  def need(self, a, b):
    for layer in reversed(self.layers):
      a, b = layer.need(a, b)
    return a, b


class Branches(_Layer):
  """Parallel paths whose outputs are combined pointwise (a residual
  connection is `Branches(Chain(), path)`)."""

  def __init__(self, *paths):
    self.paths = paths

  def need(self, a, b):
    spans = [p.need(a, b) for p in self.paths]
    return min(s[0] for s in spans), max(s[1] for s in spans)


IDENTITY = Chain()


def down_halo(field, stride):
  """(before, after) input samples a strided network needs beyond an aligned
  output window [a, b) of `field` (total stride `stride`): it reads
  [stride a - before, stride b - 1 + after]. `before` is rounded up to a
  multiple of `stride` so that a tile's first input sample keeps the
  sampling phase of every layer."""
  befores, afters = [], []
  for a in range(64, 64 + 2 * stride):  # the same for every a; checked
    lo, hi = field.need(a, a + 3)
    befores.append(stride * a - lo)
    afters.append(hi - (stride * (a + 4) - 1))
  if len(set(befores)) != 1 or len(set(afters)) != 1:
    raise ValueError("Not a shift-invariant strided network.")
  before = -(-max(befores[0], 0) // stride) * stride
  return before, max(afters[0], 0)


def up_halo(field, stride):
  """(before, after) latents an up-sampling network (total factor `stride`)
  needs around the output window [d0, d1]: it reads latents
  [floor(d0 / stride) - before, floor(d1 / stride) + after]."""
  before = after = 0
  for p in range(64, 68):
    for q in range(p, p + 3):
      lo, hi = field.need(stride * p, stride * q + stride - 1)
      before, after = max(before, p - lo), max(after, hi - q)
  return before, after


def same_halo(field):
  """(before, after) samples a stride-1 network needs around its output."""
  lo, hi = field.need(64, 67)
  return max(64 - lo, 0), max(hi - 67, 0)


# -- tile loops -------------------------------------------------------------


def num_tiles(size, tile):
  """ceil(size / tile), int32."""
  return -(-tf.cast(size, tf.int32) // tile)


def tile_span(index, tile, size):
  """[start, stop) of tile `index` of a `size`-long axis cut every `tile`."""
  start = index * tile
  return start, tf.minimum(start + tile, size)


def assemble(rows, cols, tile_fn, dtype, channels):
  """Concatenates tile_fn(i, j) -> [h_i, w_j, C] over a rows x cols grid.

  One tile at a time (`parallel_iterations=1`: TF would otherwise run
  several tiles at once and multiply the memory), in a `tf.while_loop` so
  that one traced graph serves every image size. Tiles of a row are
  concatenated along the width (as [w, h, C] slices), rows along the height.
  """
  def row(i):
    def body(j, parts):
      t = tile_fn(i, j)
      return j + 1, parts.write(j, tf.transpose(t, [1, 0, 2]))
    parts = tf.TensorArray(dtype, size=cols, infer_shape=False,
                           element_shape=tf.TensorShape([None, None,
                                                         channels]))
    _, parts = tf.while_loop(lambda j, _: j < cols, body,
                             (tf.constant(0), parts), parallel_iterations=1)
    return tf.transpose(parts.concat(), [1, 0, 2])

  def body(i, strips):
    return i + 1, strips.write(i, row(i))
  strips = tf.TensorArray(dtype, size=rows, infer_shape=False,
                          element_shape=tf.TensorShape([None, None, channels]))
  _, strips = tf.while_loop(lambda i, _: i < rows, body,
                            (tf.constant(0), strips), parallel_iterations=1)
  out = strips.concat()
  out.set_shape([None, None, channels])
  return out


def accumulate(rows, cols, tile_fn, initial):
  """sum over the grid of tile_fn(i, j) (same shape as `initial`), one tile
  at a time, in row-major order (a fixed order: the sum is deterministic)."""
  def body(k, total):
    return k + 1, total + tile_fn(k // cols, k % cols)
  _, total = tf.while_loop(lambda k, _: k < rows * cols, body,
                           (tf.constant(0), initial), parallel_iterations=1)
  return total


def describe():
  """The halos of the shipped networks (for the docs; see module docstring)."""
  from resizer_tf.codecs import balle2017, balle2018  # pylint: disable=g-import-not-at-top
  from resizer_tf.layers import filters, resize_param_net  # pylint: disable=g-import-not-at-top
  return {
      "balle2017 g_a": down_halo(balle2017.ANALYSIS_FIELD, 16),
      "balle2017 g_s": up_halo(balle2017.SYNTHESIS_FIELD, 16),
      "balle2018 g_a": down_halo(balle2018.ANALYSIS_FIELD, 16),
      "balle2018 g_s": up_halo(balle2018.SYNTHESIS_FIELD, 16),
      "resize_param_net": down_halo(
          resize_param_net.receptive_field((16, 32, 64), 3), 8),
      "filter": same_halo(filters.RECEPTIVE_FIELD),
  }
