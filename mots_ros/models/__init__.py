"""TrackR-CNN (thesis ch. 3-4) on torchvision: temporal block, losses, the network, checkpoints, streaming."""
from .losses import batch_all_triplet, batch_hard_triplet, contrastive, p_quantile_triplet
from .streaming import StreamingModel
from .temporal import SeparableConv3d, TemporalBlock, temporal_window
from .trackrcnn import TrackRCNN
from .weights import build_from_checkpoint, load_checkpoint, save_checkpoint

__all__ = ["SeparableConv3d", "StreamingModel", "TemporalBlock", "TrackRCNN", "batch_all_triplet",
           "batch_hard_triplet", "build_from_checkpoint", "contrastive", "load_checkpoint", "p_quantile_triplet",
           "save_checkpoint", "temporal_window"]
