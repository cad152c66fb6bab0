"""MOTS data: KITTI MOTS / MOTSChallenge formats, RLE helpers and the synthetic data set (torch-free)."""
