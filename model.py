"""The CNN of the PyTorch tutorial ("Tudui"), unchanged.

Three 5x5 convolutions with max-pooling, then two linear layers. There are no
activations and no normalization layers: that is the tutorial's design, kept so
that its checkpoints (state_dict keys model.0.weight ... model.8.bias) load here.
"""
import torch
from torch import nn


class Tudui(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(3, 32, 5, padding=2),   # 3x32x32 -> 32x32x32
            nn.MaxPool2d(2),                  # -> 32x16x16
            nn.Conv2d(32, 32, 5, padding=2),
            nn.MaxPool2d(2),                  # -> 32x8x8
            nn.Conv2d(32, 64, 5, padding=2),
            nn.MaxPool2d(2),                  # -> 64x4x4
            nn.Flatten(),                     # -> 1024
            nn.Linear(1024, 64),
            nn.Linear(64, num_classes),
        )

    def forward(self, x):
        return self.model(x)


if __name__ == "__main__":
    net = Tudui()
    out = net(torch.ones(64, 3, 32, 32))
    print("output shape:", tuple(out.shape))
    print("parameters:", sum(p.numel() for p in net.parameters()))
