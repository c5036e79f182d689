"""Prints the reference values pasted into Tests/TrainingTests/AdamTests.swift.

torch.optim.Adam (L2 weight decay, bias correction) on a 5-element parameter for three
steps with fixed gradients; float32 throughout. Run by hand:
    /work/venvs/torch/bin/python Tools/adam_fixture.py
"""
import torch

torch.set_printoptions(precision=10)
p = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0, 0.0, 1e-3], dtype=torch.float32))
opt = torch.optim.Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
grads = [
    [0.1, -0.2, 0.3, 0.0, 5.0],
    [-0.05, 0.4, 0.3, 1e-4, -5.0],
    [0.2, 0.0, -0.6, 0.0, 2.5],
]
for g in grads:
    p.grad = torch.tensor(g, dtype=torch.float32)
    opt.step()
    print("[" + ", ".join(repr(float(x)) for x in p.detach()) + "],")
print("# torch", torch.__version__)
