"""Shared pieces of the training binaries."""
