# A small PyTorch training run on the CPU: the real-program scenario the benchmarks and the
# real-program tests profile (Debian's python3-torch; run with /usr/bin/python3).
# About two million host allocations in two seconds, almost all from libtorch_cpu and CPython.
import torch
import torch.nn as nn

torch.manual_seed(0)
torch.set_num_threads(1)
X = torch.randn(4096, 64)
y = (X[:, :8].sum(1) > 0).long()
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
lossf = nn.CrossEntropyLoss()
for epoch in range(15):
    tot = 0.0
    for i in range(0, 4096, 32):
        xb, yb = X[i:i + 32], y[i:i + 32]
        opt.zero_grad()
        loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()
        tot += loss.item()
    print(epoch, round(tot / 128, 4))
