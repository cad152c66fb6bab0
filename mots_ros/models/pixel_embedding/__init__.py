"""The pixel-embedding model family (thesis 6.2): DeepLabV3+ with temporal convolutions, per-pixel classes and
embeddings, trained with cross-entropy + a contrastive loss on sampled pixels."""
from .losses import PixelLoss, pixel_targets, sample_pixels
from .model import PixelEmbeddingNet, build_pixel_embedding

__all__ = ["PixelEmbeddingNet", "PixelLoss", "build_pixel_embedding", "pixel_targets", "sample_pixels"]
