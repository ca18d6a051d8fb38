"""resizer_tf: learned resizing for vision tasks and learned image compression.

Two installs (see README.md, "Installation"):

* `pip install resizer_tf` -- the layers, vision models, data pipelines and
  metrics on any TensorFlow >= 2.14, including today's TensorFlow with Keras 3.
* `pip install resizer_tf[compression]` -- adds the learned codecs,
  Resize-Compress and the file format. tensorflow-compression 2.14.1 is its
  newest release and is built against TensorFlow 2.14 only, so this extra pins
  the whole stack: TensorFlow 2.14.1 (Keras 2), numpy < 2, SciPy 1.11
  (see docs/design_notes.md, "Software stack").

Environments that use the `tensorflow-cpu` distribution instead of `tensorflow`
(both install the same `tensorflow` module) set RESIZER_TF_TENSORFLOW=tensorflow-cpu
while installing, so that pip does not add a second copy of TensorFlow.
"""
import os

import setuptools

_TENSORFLOW = os.environ.get("RESIZER_TF_TENSORFLOW", "tensorflow")

# The base package: nothing here imports tensorflow_compression.
INSTALL_REQUIRES = [
    f"{_TENSORFLOW}>=2.14",
    # Training logs: TensorFlow >= 2.20 no longer installs it by itself.
    "tensorboard",
    "tensorflow-datasets>=4.9.3",
    "numpy",  # TensorFlow itself bounds it (numpy < 2 for TF 2.14).
    "scipy",
    "absl-py",
    "bjontegaard==1.3.0",  # BD-rates (resizer_tf.metrics.rate)
    "matplotlib",
    "scikit-image",
    "pillow",
]
EXTRAS = {
    # The stack tensorflow-compression 2.14.1 was built for.
    "compression": [
        "tensorflow==2.14.1",
        "tensorflow-compression==2.14.1",
        "tensorflow-probability>=0.15,<0.23",
        "tensorflow-datasets==4.9.3",
        "tensorflow-metadata<1.16",
        "numpy<2",
        "scipy~=1.11.0",
    ],
    "test": ["pytest", "pytest-xdist"],
    "eval": ["sewar", "imageio-ffmpeg==0.8.1",
             "pillow-heif", "scikit-learn"],
}
EXTRAS["all"] = sorted({p for ps in EXTRAS.values() for p in ps})

setuptools.setup(
    name="resizer_tf",
    version="0.1.0",
    description=("Learned image resizing (Talebi & Milanfar 2021) and "
                 "Resize-Compress (Chen et al.) for TensorFlow/Keras."),
    packages=setuptools.find_packages(include=["resizer_tf", "resizer_tf.*"]),
    # The shipped trained codecs (resizer_tf.pretrained).
    package_data={"resizer_tf": ["pretrained_weights/*.npz",
                                 "pretrained_weights/*.json"]},
    python_requires=">=3.11",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    license="Apache-2.0",
)
