from .linear_classifier import LinearClassifier, Softmax
from .softmax import softmax_loss_naive, softmax_loss_vectorized

__all__ = ["LinearClassifier", "Softmax", "softmax_loss_naive", "softmax_loss_vectorized"]
