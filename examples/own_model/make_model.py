#!/usr/bin/env python3
"""A team's own model for trainwreck: a small Conv2d + BatchNorm2d + Linear regressor, scripted
with TorchScript and saved with torch.jit.save, and its data saved with torch.save as a dict
{"x": inputs, "y": targets}. The scenarios next to this file name both files.

    python3 make_model.py [--out DIR]    # writes DIR/model.pt and DIR/data.pt (default: here)

Any module that torch.jit.script (or torch.jit.trace) accepts works the same way: its forward
takes one tensor of x's shape (first dimension the batch) and returns what the loss reads:
values shaped as y for mse (y: floating point), or class scores [batch, classes] for
cross_entropy (y: int64 class indices).
"""
import argparse
import os

import torch


class SmallConvNet(torch.nn.Module):
    def __init__(self, channels: int = 8, side: int = 8, outputs: int = 1):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, channels, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(channels)
        self.head = torch.nn.Linear(channels * side * side, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv(x)))
        return self.head(h.flatten(1))


def make_data(n: int = 2048, side: int = 8, seed: int = 7):
    """Noisy images with a bright square in one quadrant; the target is the square's brightness
    (standardized), so the model must find the square wherever it is."""
    g = torch.Generator().manual_seed(seed)
    quadrant = torch.randint(0, 4, (n,), generator=g)
    brightness = torch.rand(n, generator=g) * 1.5 + 0.5
    x = 0.5 * torch.randn(n, 1, side, side, generator=g)
    half = side // 2
    for k in range(4):
        rows = slice(0, half) if k < 2 else slice(half, side)
        cols = slice(0, half) if k % 2 == 0 else slice(half, side)
        x[quadrant == k, 0, rows, cols] += brightness[quadrant == k].view(-1, 1, 1)
    y = (brightness - brightness.mean()) / brightness.std()
    return {"x": x, "y": y.view(-1, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(SmallConvNet()), os.path.join(args.out, "model.pt"))
    torch.save(make_data(), os.path.join(args.out, "data.pt"))
    print("wrote", os.path.join(args.out, "model.pt"), "and", os.path.join(args.out, "data.pt"))


if __name__ == "__main__":
    main()
