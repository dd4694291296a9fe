"""Helpers and classifiers for the softmax assignment."""
