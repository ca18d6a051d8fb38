r"""CompressAI CPU reference timings for benchmarks/codec_speed.py.

Runs under a separate virtualenv with torch and compressai (never a
dependency of resizer_tf; this file imports nothing from it):

  python3.11 -m venv .venv-compressai
  .venv-compressai/bin/pip install torch compressai
  .venv-compressai/bin/python benchmarks/compressai_reference.py \
      --arch=bmshj2018-hyperprior --quality=1 --threads=1 --image_npy=x.npy

Builds `compressai.zoo.<arch>(quality=q, pretrained=False)` (random weights:
coding time does not need trained ones, only the same N/M), calls
`net.update()`, warms up once, then times `--calls` calls of
`net.compress(x)` and `net.decompress(strings, shape)` under
`torch.inference_mode()` at `torch.set_num_threads(--threads)`, and prints
one JSON object (ms per call, min/median/max, bits per pixel).

Architectures matched to resizer_tf's codec defaults:
  balle2018_factorized N=128, M=192  -> bmshj2018-factorized quality 1-5
  balle2018_hyperprior N=128, M=192  -> bmshj2018-hyperprior quality 1-5
  cheng2020 N=128 (with attention)   -> cheng2020-attn quality 1-3
  balle2017 (bls2017: 9x9/4, 5x5/2, 5x5/2, N=M=128) has no zoo entry;
    --arch=bls2017 builds it from CompressAI's FactorizedPrior with those
    transforms (CompressAI's GDN, EntropyBottleneck and coder), so it is the
    same architecture; bmshj2018-factorized quality 1 (four 5x5/2 layers,
    N=128, M=192) is the nearest zoo model.
Image sides must be multiples of 64 (the hyperprior models' stride).
"""
import argparse
import json
import os
import statistics
import sys
import time


def _spread(values):
  return dict(min=min(values), median=statistics.median(values),
              max=max(values))


def bls2017(n=128):
  """Ballé et al. 2017 (tfc's bls2017 layout) on CompressAI's parts."""
  from torch import nn  # pylint: disable=g-import-not-at-top
  from compressai.layers import GDN  # pylint: disable=g-import-not-at-top
  from compressai.models import FactorizedPrior  # pylint: disable=g-import-not-at-top

  def conv(cin, cout, k, s):
    return nn.Conv2d(cin, cout, k, stride=s, padding=k // 2)

  def deconv(cin, cout, k, s):
    return nn.ConvTranspose2d(cin, cout, k, stride=s, padding=k // 2,
                              output_padding=s - 1)

  net = FactorizedPrior(n, n)
  net.g_a = nn.Sequential(conv(3, n, 9, 4), GDN(n), conv(n, n, 5, 2), GDN(n),
                          conv(n, n, 5, 2))
  net.g_s = nn.Sequential(deconv(n, n, 5, 2), GDN(n, inverse=True),
                          deconv(n, n, 5, 2), GDN(n, inverse=True),
                          deconv(n, 3, 9, 4))
  return net


def build(arch, quality):
  if arch == "bls2017":
    return bls2017()
  from compressai import zoo  # pylint: disable=g-import-not-at-top
  return getattr(zoo, arch.replace("-", "_"))(quality=quality,
                                               pretrained=False)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--arch", required=True,
                 help="compressai.zoo name (bmshj2018-hyperprior, ...) or "
                 "bls2017")
  p.add_argument("--quality", type=int, default=1)
  p.add_argument("--threads", type=int, default=1)
  p.add_argument("--calls", type=int, default=3,
                 help="Timed compress/decompress calls after one warm-up.")
  p.add_argument("--image_npy", default="",
                 help="HxWx3 uint8 .npy (default: uniform noise of "
                 "--height x --width).")
  p.add_argument("--height", type=int, default=512)
  p.add_argument("--width", type=int, default=768)
  p.add_argument("--parts", action="store_true",
                 help="Also time the transforms alone (g_a, g_s, and h_a, "
                 "h_s where present).")
  args = p.parse_args(argv)

  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads)
  try:
    torch.set_num_interop_threads(1)
  except RuntimeError:
    pass
  torch.manual_seed(0)
  if args.image_npy:
    image = np.load(args.image_npy)
  else:
    image = np.random.RandomState(0).randint(
        0, 256, (args.height, args.width, 3), dtype=np.uint8)
  x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
  x = x.float() / 255.

  net = build(args.arch, args.quality).eval()
  net.update(force=True)
  enc, dec = [], []
  with torch.inference_mode():
    out = net.compress(x)  # Warm-up.
    net.decompress(out["strings"], out["shape"])
    for _ in range(args.calls):
      start = time.perf_counter()
      out = net.compress(x)
      enc.append(1000 * (time.perf_counter() - start))
      start = time.perf_counter()
      net.decompress(out["strings"], out["shape"])
      dec.append(1000 * (time.perf_counter() - start))
    parts = {}
    if args.parts:
      y = net.g_a(x)
      fns = {"g_a": lambda: net.g_a(x), "g_s": lambda: net.g_s(y)}
      if hasattr(net, "h_a"):
        # bmshj2018-hyperprior's h_a takes |y|; Cheng's takes y.
        hin = y if args.arch.startswith("cheng") else torch.abs(y)
        z = net.h_a(hin)
        fns["h_a"] = lambda: net.h_a(hin)
        fns["h_s"] = lambda: net.h_s(z)
      for name, fn in fns.items():
        fn()
        t = []
        for _ in range(args.calls):
          start = time.perf_counter()
          fn()
          t.append(1000 * (time.perf_counter() - start))
        parts[name] = _spread(t)
  nbytes = sum(len(s[0]) for s in out["strings"])
  h, w = image.shape[:2]
  result = dict(
      arch=args.arch, quality=args.quality, threads=args.threads,
      torch_threads=torch.get_num_threads(), torch=torch.__version__,
      compressai=__import__("compressai").__version__,
      image_shape=list(image.shape), calls=args.calls,
      encode_ms=enc, decode_ms=dec, encode_ms_spread=_spread(enc),
      decode_ms_spread=_spread(dec), bpp=8 * nbytes / (h * w),
      pid=os.getpid())
  if parts:
    result["parts_ms"] = parts
  json.dump(result, sys.stdout)
  print()


if __name__ == "__main__":
  main()
