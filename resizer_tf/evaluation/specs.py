"""Parsing of the evaluation's command-line specifications.

Kept in the library so the binary stays flags -> calls and the parsing is
tested.
"""
import os

from resizer_tf import anchors as anchors_lib


def _literal(text):
  """"4" -> 4, "0.5" -> 0.5, "true" -> True, anything else -> the string."""
  lowered = text.strip().lower()
  if lowered in ("true", "false"):
    return lowered == "true"
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  return text.strip()


def parse_learned(entries):
  """["name=path", "path", "a=p1,b=p2"] -> [(name or None, path), ...]."""
  out = []
  for entry in entries:
    for item in filter(None, (e.strip() for e in entry.split(","))):
      if "=" in item:
        name, path = item.split("=", 1)
        name, path = name.strip(), path.strip()
        if not name or not path:
          raise ValueError(f"--learned entry {item!r}: expected NAME=PATH.")
      else:
        name, path = None, item
      out.append((name, os.path.expanduser(path)))
  return out


def parse_ladders(entries):
  """["jpeg=3,6,10", ...] -> {"jpeg": (3, 6, 10)}."""
  ladders = {}
  for entry in entries:
    if "=" not in entry:
      raise ValueError(f"Ladder {entry!r}: expected CODEC=v1,v2,...")
    name, values = entry.split("=", 1)
    name = name.strip()
    if name not in anchors_lib.ANCHORS:
      raise ValueError(f"Ladder for unknown anchor {name!r}; anchors: "
                       f"{', '.join(anchors_lib.ANCHORS)}.")
    settings = tuple(_literal(v) for v in values.split(",") if v.strip())
    if not settings:
      raise ValueError(f"Ladder {entry!r} has no settings.")
    ladders[name] = settings
  return ladders


def parse_anchor_options(entries):
  """["avif.speed=4", "vvc.preset=faster"] -> {"avif": {"speed": 4}, ...}."""
  options = {}
  for entry in entries:
    if "=" not in entry or "." not in entry.split("=", 1)[0]:
      raise ValueError(
          f"Anchor option {entry!r}: expected CODEC.OPTION=VALUE, e.g. "
          "avif.speed=4.")
    key, value = entry.split("=", 1)
    name, option = key.split(".", 1)
    if name not in anchors_lib.ANCHORS:
      raise ValueError(f"Option for unknown anchor {name!r}; anchors: "
                       f"{', '.join(anchors_lib.ANCHORS)}.")
    options.setdefault(name, {})[option.strip()] = _literal(value)
  return options


def make_anchors(names, options=None):
  """Anchor codecs by name, with per-anchor constructor options."""
  options = dict(options or {})
  unused = set(options) - set(names)
  if unused:
    raise ValueError(f"Options given for anchors not evaluated: "
                     f"{sorted(unused)}.")
  codecs = []
  for name in names:
    try:
      codecs.append(anchors_lib.make_anchor(name, **options.get(name, {})))
    except TypeError as e:
      raise ValueError(f"Bad options for anchor {name!r}: {e}") from None
  return codecs
