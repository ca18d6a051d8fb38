"""Classic codec anchors: round trips, file formats, ladders, bad input."""
import io
import subprocess

import numpy as np
from PIL import Image
from PIL import JpegImagePlugin
import pytest
from skimage import data as skdata

from resizer_tf import anchors
from resizer_tf.anchors import ffmpeg_codecs

# Fast settings of the slow encoders; the defaults are tested for their
# option values, not run, to keep each test within seconds.
_FAST = {"avif": {"speed": 8}, "vvc": {"preset": "faster"},
         "hevc": {"preset": "medium"}}
_PIL_FORMATS = {"jpeg": "JPEG", "webp": "WEBP", "jpeg2000": "JPEG2000",
                "avif": "AVIF"}


def _photo(height=64, width=96):
  return np.ascontiguousarray(skdata.astronaut()[120:120 + height,
                                                 160:160 + width])


def _psnr(a, b):
  return 10 * np.log10(255.0**2 / np.mean((a.astype(float) - b)**2))


def _codec(name):
  codec = anchors.make_anchor(name, **_FAST.get(name, {}))
  try:
    codec.check_available()
  except anchors.CodecUnavailableError as e:
    pytest.skip(f"external tool missing: {e}")
  return codec


def _ffmpeg_stream_info(data, muxer):
  proc = subprocess.run(
      [ffmpeg_codecs.find_ffmpeg(), "-hide_banner", "-f", muxer, "-i", "-",
       "-f", "null", "-"], input=data, capture_output=True, check=False)
  return proc.stderr.decode(errors="replace")


@pytest.mark.parametrize("name", list(anchors.ANCHORS))
def test_round_trip_size_format_and_ladder_order(name):
  codec = _codec(name)
  image = _photo()
  low, high = codec.settings[0], codec.settings[-1]
  data_low, data_high = codec.encode(image, low), codec.encode(image, high)
  assert isinstance(data_high, bytes) and data_low
  recon_low, recon_high = codec.decode(data_low), codec.decode(data_high)
  for recon in (recon_low, recon_high):
    assert recon.shape == image.shape and recon.dtype == np.uint8
  # The ladder runs from low to high rate and quality.
  assert len(data_high) > len(data_low)
  assert _psnr(image, recon_high) > _psnr(image, recon_low)
  # A wrong colour matrix or range shows as a colour cast (channel bias).
  assert _psnr(image, recon_high) > 30.0
  bias = np.mean(recon_high.astype(float) - image, axis=(0, 1))
  assert np.all(np.abs(bias) < 1.5), bias
  assert len(codec.settings) == 8
  if name in _PIL_FORMATS:
    with Image.open(io.BytesIO(data_high)) as im:
      assert im.format == _PIL_FORMATS[name]
      assert im.size == (image.shape[1], image.shape[0])
  else:
    info = _ffmpeg_stream_info(data_high, codec.muxer)
    assert f"Video: {codec.muxer}" in info
    assert f"{image.shape[1]}x{image.shape[0]}" in info


def test_jpeg_has_no_chroma_subsampling():
  codec = anchors.make_anchor("jpeg")
  data = codec.encode(_photo(), 50)
  with Image.open(io.BytesIO(data)) as im:
    assert JpegImagePlugin.get_sampling(im) == 0  # 0 means 4:4:4


def test_jpeg_sweep_is_every_quality_as_pillow_writes_it():
  photo = _photo()
  sweep = anchors.make_anchor("jpeg").sweep(photo, qualities=(1, 40, 95))
  assert [q for q, _ in sweep] == [1, 40, 95]
  for q, data in sweep:
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=q, subsampling=0,
                                optimize=True)
    assert data == buffer.getvalue()
  assert len(sweep[0][1]) < len(sweep[1][1]) < len(sweep[2][1])


def test_jpeg2000_rate_control_hits_target_bpp():
  codec = anchors.make_anchor("jpeg2000")
  image = _photo(128, 128)
  for bpp in (0.25, 1.0):
    data = codec.encode(image, bpp)
    assert len(data) * 8 / (128 * 128) == pytest.approx(bpp, rel=0.08)
    assert data[:4] == b"\xff\x4f\xff\x51"  # raw J2K codestream (SOC, SIZ)


def test_hevc_is_444_rext():
  codec = _codec("hevc")
  info = _ffmpeg_stream_info(codec.encode(_photo(), 30), "hevc")
  assert "yuv444p" in info and "Rext" in info


def test_avif_is_444():
  codec = _codec("avif")
  data = codec.encode(_photo(), 50)
  # The 'av1C' box's chroma_subsampling_x/y bits are 0 for 4:4:4.
  pos = data.index(b"av1C") + 4
  assert data[pos + 2] & 0x0C == 0


def test_defaults_are_max_effort():
  assert anchors.make_anchor("avif").speed == 0
  assert anchors.make_anchor("vvc").preset == "slower"
  assert anchors.make_anchor("hevc").preset == "placebo"
  assert anchors.make_anchor("webp").method == 6
  jpeg = anchors.make_anchor("jpeg")
  assert jpeg.subsampling == "4:4:4" and jpeg.optimize
  j2k = anchors.make_anchor("jpeg2000")
  assert j2k.irreversible and j2k.mct == 1


def test_jpeg2000_default_ladder_spans_paper_range():
  settings = anchors.make_anchor("jpeg2000").settings
  assert settings[0] == pytest.approx(0.05) and settings[-1] == 1.0


@pytest.mark.parametrize("name", ["jpeg", "webp", "jpeg2000"])
def test_bad_input_and_setting(name):
  codec = anchors.make_anchor(name)
  with pytest.raises(ValueError, match="uint8"):
    codec.encode(_photo().astype(np.float32), codec.settings[0])
  with pytest.raises(ValueError, match="shape"):
    codec.encode(_photo()[..., 0], codec.settings[0])
  with pytest.raises(ValueError):
    codec.encode(_photo(), -5)
  with pytest.raises(ValueError, match="Cannot decode"):
    codec.decode(b"not an image file")
  with pytest.raises(ValueError, match="empty"):
    codec.decode(b"")


def test_ffmpeg_codec_corrupt_data_and_bad_qp():
  codec = _codec("hevc")
  with pytest.raises(ValueError, match="QP"):
    codec.encode(_photo(), 70)
  with pytest.raises(ValueError, match="Cannot decode"):
    codec.decode(b"\x00\x00\x00\x01garbage")


def test_vvc_rejects_odd_size():
  codec = _codec("vvc")
  with pytest.raises(ValueError, match="even"):
    codec.encode(_photo(63, 96), 30)


def test_unknown_anchor():
  with pytest.raises(ValueError, match="Unknown anchor"):
    anchors.make_anchor("bpg")


def test_missing_encoder_names_what_to_install(monkeypatch):
  ffmpeg_codecs.find_ffmpeg.cache_clear()
  monkeypatch.setattr(ffmpeg_codecs, "ffmpeg_encoders",
                      lambda ffmpeg: frozenset({"libx265"}))
  with pytest.raises(anchors.CodecUnavailableError, match="imageio-ffmpeg"):
    anchors.make_anchor("vvc").check_available()
  anchors.make_anchor("hevc").check_available()  # still there
