"""Two small models in plain torch, the kind of code a flop budget protects: an image classifier and a
decoder-only transformer. Random init, tiny default sizes: every test here runs in well under a second."""

from .classifier import TinyResNet
from .transformer import TinyTransformer, TransformerConfig

__all__ = ["TinyResNet", "TinyTransformer", "TransformerConfig"]
