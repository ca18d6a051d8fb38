"""ResizeCompress options for Table III's ablation (f) and the authors'
ResizeParamNet variant (Chen et al., Sec. III-C, Table I, Table III)."""
import numpy as np
import pytest
import tensorflow as tf

from resizer_tf import resize_compress
from resizer_tf.layers import resize_param_net


def _model(**kwargs):
  tf.keras.utils.set_random_seed(2)
  model = resize_compress.ResizeCompress(
      "balle2017", codec_kwargs=dict(num_filters=8), **kwargs)
  model(tf.random.uniform([2, 32, 32, 3], seed=1))
  return model


def _count(variables):
  return int(sum(np.prod(v.shape) for v in variables))


def test_ablation_f_uses_two_separate_networks():
  single = _count(_model().resize_variables)
  model = _model(separate_scales=True)
  net = model.scale_net
  assert isinstance(net, resize_param_net.SeparateResizeParamNets)
  # "M_x and M_y were predicted by two separate CNNs": twice the parameters.
  assert _count(model.resize_variables) == 2 * single
  x = tf.random.uniform([2, 32, 32, 3], seed=3)
  m = model.estimate_scale(x, training=False).numpy()
  assert m.shape == (2, 2)
  np.testing.assert_allclose(m[:, 0], net.net_y(x, training=False), rtol=1e-6)
  np.testing.assert_allclose(m[:, 1], net.net_x(x, training=False), rtol=1e-6)
  # Each network gets gradients only through its own scale.
  with tf.GradientTape(persistent=True) as tape:
    m = model.estimate_scale(x, training=True)
    my, mx = tf.reduce_sum(m[:, 0]), tf.reduce_sum(m[:, 1])
  def norm(target, variables):
    return sum(float(tf.reduce_sum(tf.abs(g))) for g in
               tape.gradient(target, variables) if g is not None)
  assert norm(my, net.net_x.trainable_variables) == 0
  assert norm(mx, net.net_y.trainable_variables) == 0
  assert norm(my, net.net_y.trainable_variables) > 0
  assert norm(mx, net.net_x.trainable_variables) > 0
  # The former behaviour stays available by name: one network, its channels
  # split in two halves.
  split = _model(separate_scales=True, separate_scales_mode="split_channels")
  assert isinstance(split.scale_net, resize_param_net.ResizeParamNet)
  assert split.scale_net.num_outputs == 2
  assert _count(split.resize_variables) == single
  with pytest.raises(ValueError, match="separate_scales_mode"):
    _model(separate_scales=True, separate_scales_mode="three")


@pytest.mark.parametrize("variant,kernel,relu", [("table1", 3, True),
                                                  ("authors", 1, False)])
def test_resize_param_net_variant_is_selectable(variant, kernel, relu):
  for separate in (False, True):
    model = _model(resize_param_net_variant=variant, separate_scales=separate)
    nets = ([model.scale_net.net_y, model.scale_net.net_x] if separate
            else [model.scale_net])
    for net in nets:
      assert net.shortcut_kernel_size == kernel
      assert net.relu_before_add == relu
      assert net.blocks[0][4].kernel.shape[:2] == (kernel, kernel)
    config = model.get_config()
    assert config["resize_param_net_variant"] == variant
    again = resize_compress.ResizeCompress.from_config(config)
    again(tf.zeros([1, 32, 32, 3]))
    assert _count(again.resize_variables) == _count(model.resize_variables)
  with pytest.raises(ValueError, match="variant"):
    _model(resize_param_net_variant="paper")
