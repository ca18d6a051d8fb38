"""absl binaries of resizer_tf (run as `python -m experiments.NAME`)."""
import os

# TF's C++ start-up chatter hides the binaries' own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
