"""A folder of class sub-folders (`root/<class>/<image>`), e.g. ImageNet."""
import os

from resizer_tf.data import files
from resizer_tf.data import preprocess


def list_image_folder(root, verify="header", class_names=None):
  """Lists images under `root/<class>/`; returns (paths, labels, classes, stats).

  Classes are the sorted sub-folder names (or `class_names`, so a validation
  folder uses the training label ids). Files whose extension is not a
  decodable image type are ignored; missing/corrupt ones are counted
  (`files.scan_files`).
  """
  root = os.fspath(root)
  if not os.path.isdir(root):
    raise ValueError(f"Image folder not found: {root!r}.")
  if class_names is None:
    class_names = sorted(d for d in os.listdir(root)
                         if os.path.isdir(os.path.join(root, d)))
  if not class_names:
    raise ValueError(f"{root!r} has no class sub-folders.")
  paths, labels = [], []
  for label, name in enumerate(class_names):
    directory = os.path.join(root, name)
    if not os.path.isdir(directory):
      continue
    for filename in sorted(os.listdir(directory)):
      if filename.lower().endswith(preprocess.IMAGE_EXTENSIONS):
        paths.append(os.path.join(directory, filename))
        labels.append(label)
  if not paths:
    raise ValueError(
        f"No images with extensions {preprocess.IMAGE_EXTENSIONS} under "
        f"{root!r}.")
  mask, stats = files.scan_files(paths, verify, what=f"images in {root}")
  paths = [p for p, ok in zip(paths, mask) if ok]
  labels = [l for l, ok in zip(labels, mask) if ok]
  if not paths:
    raise ValueError(f"None of the {stats.total} images under {root!r} is "
                     "readable.")
  return paths, labels, tuple(class_names), stats


def image_folder_dataset(root, input_size, batch_size, training,
                         verify="header", class_names=None,
                         method="bilinear", antialias=False, seed=None,
                         repeat=False):
  """(images [B, H, W, 3] float 0-255, labels int32) from a class folder.

  Returns:
    (tf.data.Dataset, SourceInfo); `skipped` counts missing + corrupt files.
  """
  paths, labels, classes, stats = list_image_folder(root, verify, class_names)
  dataset = preprocess.file_dataset(paths, labels, input_size, batch_size,
                                    training, method, antialias, seed, repeat)
  info = preprocess.SourceInfo(
      num_examples=len(paths), num_classes=len(classes), class_names=classes,
      skipped=stats.missing + stats.corrupt)
  return dataset, info
