"""Architectures only (timm / torchvision based), baselines included."""
