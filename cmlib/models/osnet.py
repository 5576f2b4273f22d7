"""OSNet: Omni-Scale Feature Learning for Person Re-Identification (Zhou et al., ICCV 2019).

DeSKPro (Wu et al., ICASSP 2023, Sec. 2.1) and LightMBN (Herzog et al., ICIP 2021) use OSNet x1.0 truncated
"up until the first layer of its third convolutional block" as the shared stem, and deep copies of the rest
(``conv3[1:]``, ``conv4``, ``conv5``) as the trunk of every branch (official code:
KimbingNg/DeskPro ``model/backbone/lmbn/LMBN.py``, ``branches.py``).

No maintained package ships OSNet for current torch, so it is written here following the reference
implementation (torchreid ``models/osnet.py``): ``OSBlock`` = 1x1 reduction, four streams of 1..4 lite 3x3
convolutions fused by a shared unified aggregation gate (Sec. 3.1, eq. 2-3 of the OSNet paper), 1x1 expansion
and a residual connection. ``width`` scales every channel count (x1.0 = [64, 256, 384, 512]; torchreid offers
x0.75/x0.5/x0.25 the same way); cmlib uses small widths on the synthetic world to fit a 2-core CPU.

Weights never download: :func:`load_osnet_weights` reads a local torchreid-format state dict.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

__all__ = [
    "OSBlock",
    "OSNet",
    "load_osnet_weights",
    "osnet",
    "osnet_x0_5",
    "osnet_x0_25",
    "osnet_x1_0",
]


class ConvLayer(nn.Module):
    """k x k convolution + BatchNorm + ReLU (the OSNet stem)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Conv1x1(nn.Module):
    """1x1 convolution + BatchNorm (+ ReLU unless ``linear``)."""

    def __init__(self, cin: int, cout: int, linear: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.Identity() if linear else nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class LightConv3x3(nn.Module):
    """Lite 3x3 convolution: 1x1 pointwise then 3x3 depthwise, BatchNorm, ReLU (OSNet Fig. 3)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False, groups=cout)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv2(self.conv1(x))))


class ChannelGate(nn.Module):
    """Unified aggregation gate (OSNet eq. 3): GAP -> FC -> ReLU -> FC -> sigmoid, multiplied onto the input."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(self.relu(self.fc1(g))))


class OSBlock(nn.Module):
    """Omni-scale residual bottleneck (OSNet Fig. 4): four streams with receptive fields 3, 5, 7, 9.

    Args:
        cin: input channels.
        cout: output channels.
        reduction: bottleneck reduction (4 in OSNet).
    """

    def __init__(self, cin: int, cout: int, reduction: int = 4) -> None:
        super().__init__()
        mid = max(cout // reduction, 1)
        self.conv1 = Conv1x1(cin, mid)
        self.streams = nn.ModuleList(
            nn.Sequential(*[LightConv3x3(mid, mid) for _ in range(depth)]) for depth in (1, 2, 3, 4)
        )
        self.gate = ChannelGate(mid)
        self.conv3 = Conv1x1(mid, cout, linear=True)
        self.downsample = Conv1x1(cin, cout, linear=True) if cin != cout else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, cin, H, W) -> (B, cout, H, W)."""
        x1 = self.conv1(x)
        x2 = sum(self.gate(stream(x1)) for stream in self.streams)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv3(x2) + identity)


def _make_layer(cin: int, cout: int, n_blocks: int, reduce: bool) -> nn.Sequential:
    layers: list[nn.Module] = [OSBlock(cin, cout)] + [OSBlock(cout, cout) for _ in range(n_blocks - 1)]
    if reduce:
        layers.append(nn.Sequential(Conv1x1(cout, cout), nn.AvgPool2d(2, stride=2)))
    return nn.Sequential(*layers)


class OSNet(nn.Module):
    """OSNet feature extractor (no classifier: cmlib only uses its convolutional stages).

    Stages (x1.0 channels): ``conv1`` 7x7/2 (64) -> ``maxpool`` /2 -> ``conv2`` 2 OSBlocks (256) + transition /2
    -> ``conv3`` 2 OSBlocks (384) + transition /2 -> ``conv4`` 2 OSBlocks (512) -> ``conv5`` 1x1 (512).

    Args:
        channels: the four stage widths, e.g. (64, 256, 384, 512).
    """

    def __init__(self, channels: tuple[int, int, int, int] = (64, 256, 384, 512)) -> None:
        super().__init__()
        c0, c1, c2, c3 = channels
        self.channels = tuple(channels)
        self.conv1 = ConvLayer(3, c0, 7, stride=2, padding=3)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2 = _make_layer(c0, c1, 2, reduce=True)
        self.conv3 = _make_layer(c1, c2, 2, reduce=True)
        self.conv4 = _make_layer(c2, c3, 2, reduce=False)
        self.conv5 = Conv1x1(c3, c3)
        _init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, c3, H/16, W/16)."""
        x = self.maxpool(self.conv1(x))
        return self.conv5(self.conv4(self.conv3(self.conv2(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)

    def stem(self) -> nn.Sequential:
        """The truncated backbone of DeSKPro Sec. 2.1: conv1, maxpool, conv2, conv3[0] (output stride 8)."""
        return nn.Sequential(self.conv1, self.maxpool, self.conv2, self.conv3[0])

    def trunk(self) -> nn.Sequential:
        """The rest (conv3[1:], conv4, conv5) that each LightMBN branch deep-copies (output stride 16)."""
        return nn.Sequential(self.conv3[1:], self.conv4, self.conv5)


def _init_weights(module: nn.Module) -> None:
    """Kaiming init for convolutions, unit BatchNorm, as in torchreid's OSNet."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def osnet(width: float = 1.0) -> OSNet:
    """OSNet with every x1.0 stage width scaled by ``width`` (rounded, at least 4 channels).

    Raises:
        ValueError: if ``width`` is not positive.
    """
    if width <= 0:
        raise ValueError(f"osnet width must be > 0, got {width}")
    channels = tuple(max(int(round(c * width)), 4) for c in (64, 256, 384, 512))
    return OSNet(channels)  # type: ignore[arg-type]


def osnet_x1_0() -> OSNet:
    """OSNet x1.0 (the paper's backbone)."""
    return osnet(1.0)


def osnet_x0_5() -> OSNet:
    """OSNet x0.5."""
    return osnet(0.5)


def osnet_x0_25() -> OSNet:
    """OSNet x0.25."""
    return osnet(0.25)


TORCHREID_HEAD = ("fc", "classifier")  # torchreid OSNet: fc = 512-d embedding layer, classifier = ImageNet logits


def torchreid_key(key: str) -> str:
    """torchreid's OSNet key name -> ours (``conv2a``..``conv2d`` streams -> ``streams.0.0``, ``streams.1``..)."""
    key = key.replace(".conv2a.", ".streams.0.0.")  # torchreid's 1-conv stream is not a Sequential
    for i, letter in enumerate("bcd", start=1):
        key = key.replace(f".conv2{letter}.", f".streams.{i}.")
    return key


def load_osnet_weights(model: OSNet, path: str | Path, key: str = "model.pretrained") -> list[str]:
    """Load a local torchreid-format OSNet state dict (e.g. ImageNet ``osnet_x1_0_imagenet.pth``) strictly.

    torchreid names the four streams ``conv2a``..``conv2d``; they are mapped onto ``streams.0``..``streams.3``.
    Only torchreid's head (``fc``, ``classifier``: cmlib's OSNet ends at ``conv5``) is dropped, by name; every other
    weight must fit ``model`` (:func:`cmlib.models.weights.load_weights`), so an OSNet of another width or a ResNet
    file fails naming the first keys instead of loading in part.

    Args:
        model: the model to fill in place.
        path: the local file.
        key: the params key that named the file (for messages).

    Returns:
        The names of the dropped head keys.

    Raises:
        FileNotFoundError: naming the path when it does not exist.
        cmlib.models.weights.WeightsError: the file does not fit ``model`` (naming file, width and keys).
    """
    from cmlib.models.weights import load_weights, read_state_dict

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"OSNet weights file {path} does not exist (expected a torchreid state dict .pth)")
    dropped = [k for k in read_state_dict(path, key) if k.split(".")[0] in TORCHREID_HEAD]
    load_weights(model, path, key=key, model_name=f"OSNet with channels {tuple(model.channels)}",
                 head=TORCHREID_HEAD, rename=torchreid_key)
    return dropped
