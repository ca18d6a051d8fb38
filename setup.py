"""resizer_tf: learned resizing for vision tasks and learned image compression."""
import setuptools

# The stack pinned in NOTES.md §1: tensorflow-compression 2.14.1 is the newest
# release and needs TF 2.14, Keras 2.14, numpy<2 and scipy 1.11.
INSTALL_REQUIRES = [
    "tensorflow==2.14.1",
    "tensorflow-compression==2.14.1",
    "tensorflow-probability>=0.15,<0.23",
    "tensorflow-datasets==4.9.3",
    "tensorflow-metadata<1.16",
    "numpy<2",
    "scipy~=1.11.0",
    "absl-py",
    "matplotlib",
    "scikit-image",
    "pillow",
]
EXTRAS = {
    "test": ["pytest"],
    "eval": ["bjontegaard==1.3.0", "sewar", "imageio-ffmpeg==0.8.1",
             "pillow-heif", "scikit-learn"],
}
EXTRAS["all"] = sorted({p for ps in EXTRAS.values() for p in ps})

setuptools.setup(
    name="resizer_tf",
    version="0.1.0",
    description=("Learned image resizing (Talebi & Milanfar 2021) and "
                 "Resize-Compress (Chen et al.) for TensorFlow/Keras."),
    packages=setuptools.find_packages(include=["resizer_tf", "resizer_tf.*"]),
    python_requires=">=3.11,<3.12",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    license="Apache-2.0",
)
