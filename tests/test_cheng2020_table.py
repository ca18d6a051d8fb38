"""Cheng20's transforms against a table written from the architecture of
Cheng et al. (CVPR 2020, network figure; the anchor-with-attention variant
of the authors' release, NOTES.md §4): block order, and inside every block
the convolutions' filters, kernel, stride (+ down, - up), upsampling kind,
activation and bias. N = 8 keeps it fast; the table is written in N.
"""
import tensorflow_compression as tfc

from resizer_tf.codecs import cheng2020

N = 8
H = N // 2
LR, GDN, IGDN, RELU = "lrelu", "gdn", "igdn", "relu"


def _act(a):
  if a is None:
    return None
  if isinstance(a, tfc.GDN):
    return IGDN if a.inverse else GDN
  name = getattr(a, "__name__", str(a))
  return {"_lrelu": LR, "leaky_relu": LR, "relu": RELU,
          "linear": None}.get(name, name)


def _conv(layer, kind="conv"):
  stride = layer.strides_down[0] if layer.corr else -layer.strides_up[0]
  return (kind, layer.filters, layer.kernel_support[0], stride,
          _act(layer.activation), layer.use_bias)


def _subpixel(layer):
  # A conv to 4x the filters, then depth-to-space by 2.
  return ("subpixel",) + _conv(layer.conv)[1:]


def _describe(block):
  if isinstance(block, tfc.SignalConv2D):
    return [_conv(block)]
  if isinstance(block, cheng2020.ResidualBlockWithStride):
    return ["rbs", _conv(block.conv1), _conv(block.conv2),
            _conv(block.shortcut, "conv_on_subsampled")]
  if isinstance(block, cheng2020.ResidualBlock):
    return ["rb", _conv(block.conv1), _conv(block.conv2)]
  if isinstance(block, cheng2020.ResidualBlockUpsample):
    return ["rbu", _subpixel(block.up), _conv(block.conv),
            _subpixel(block.shortcut)]
  if isinstance(block, cheng2020.SubpixelConv2D):
    return [_subpixel(block)]
  if isinstance(block, cheng2020.AttentionModule):
    units = [u for u in block.trunk + block.mask]
    return ["attention"] + [[_conv(u.conv1), _conv(u.conv2), _conv(u.conv3)]
                            for u in units] + [_conv(block.mask_conv)]
  raise AssertionError(f"unexpected block {block!r}")


UNIT = [("conv", H, 1, 1, RELU, True), ("conv", H, 3, 1, RELU, True),
        ("conv", N, 1, 1, None, True)]
ATTENTION = ["attention"] + [UNIT] * 6 + [("conv", N, 1, 1, None, True)]
RBS = ["rbs", ("conv", N, 3, 2, LR, True), ("conv", N, 3, 1, GDN, True),
       ("conv_on_subsampled", N, 1, 1, None, True)]
RB = ["rb", ("conv", N, 3, 1, LR, True), ("conv", N, 3, 1, LR, True)]
RBU = ["rbu", ("subpixel", 4 * N, 3, 1, LR, True),
       ("conv", N, 3, 1, IGDN, True), ("subpixel", 4 * N, 1, 1, None, True)]

G_A = [RBS, RB, RBS, ATTENTION, RB, RBS, RB,
       [("conv", N, 3, 2, None, False)], ATTENTION]
G_S = [ATTENTION, RB, RBU, RB, RBU, ATTENTION, RB, RBU, RB,
       [("subpixel", 12, 3, 1, None, True)]]
H_A = [[("conv", N, 3, 1, LR, True)], [("conv", N, 3, 1, LR, True)],
       [("conv", N, 3, 2, LR, True)], [("conv", N, 3, 1, LR, True)],
       [("conv", N, 3, 2, None, True)]]
# Upsampling in h_s: transposed convolutions (stride -2), as this codec is
# built (tfc SignalConv2D, corr=False); g_s upsamples with sub-pixel convs.
H_S = [[("conv", N, 3, 1, LR, True)], [("conv", N, 3, -2, LR, True)],
       [("conv", 3 * N // 2, 3, 1, LR, True)],
       [("conv", 3 * N // 2, 3, -2, LR, True)],
       [("conv", 2 * N, 3, 1, None, True)]]


def test_transforms_match_the_architecture_table():
  codec = cheng2020.Cheng2020(num_filters=N, entropy_hidden=16,
                              num_mixtures=3)
  assert [_describe(b) for b in codec.analysis.layers] == G_A
  assert [_describe(b) for b in codec.synthesis.layers] == G_S
  assert [_describe(b) for b in codec.hyper_analysis.layers] == H_A
  assert [_describe(b) for b in codec.hyper_synthesis.layers] == H_S
  # Context model: 5x5 masked ("type A") conv to 2N; entropy parameters:
  # 1x1 convs to 640 (here 16) lrelu, 640 lrelu, 3KN without bias.
  ctx = codec.context_model
  assert (ctx.filters, tuple(ctx.kernel_size)) == (2 * N, (5, 5))
  assert ctx.num_causal_positions == 12
  assert [_conv(l) for l in codec.entropy_parameters.layers] == [
      ("conv", 16, 1, 1, LR, True), ("conv", 16, 1, 1, LR, True),
      ("conv", 3 * 3 * N, 1, 1, None, False)]
