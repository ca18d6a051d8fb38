"""Classic image codecs used as anchors (Chen et al., Sec. IV-B, Table II).

    codec = anchors.make_anchor("jpeg2000")
    data = codec.encode(image_uint8, codec.settings[0])
    recon = codec.decode(data)
"""
from resizer_tf.anchors.base import check_image_uint8
from resizer_tf.anchors.base import CodecUnavailableError
from resizer_tf.anchors.base import ImageCodec
from resizer_tf.anchors.ffmpeg_codecs import HevcCodec
from resizer_tf.anchors.ffmpeg_codecs import VvcCodec
from resizer_tf.anchors.pillow_codecs import AvifCodec
from resizer_tf.anchors.pillow_codecs import Jpeg2000Codec
from resizer_tf.anchors.pillow_codecs import JpegCodec
from resizer_tf.anchors.pillow_codecs import WebPCodec

ANCHORS = {
    cls.name: cls
    for cls in (JpegCodec, WebPCodec, Jpeg2000Codec, HevcCodec, AvifCodec,
                VvcCodec)
}


def make_anchor(name, **options):
  """Builds the anchor called `name` (a key of ANCHORS) with its options."""
  if name not in ANCHORS:
    raise ValueError(
        f"Unknown anchor {name!r}; available: {', '.join(ANCHORS)}.")
  return ANCHORS[name](**options)
