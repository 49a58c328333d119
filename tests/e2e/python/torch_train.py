# A small PyTorch training script for the end-to-end tests of the PyTorch hook, run unmodified under
# `tidemark record` and bare. It writes what tidemark must find, taken from torch itself, to the JSON
# file named by its first argument:
#   modules        the model's named_modules() paths and classes (the phases forward must name)
#   steps          optimizer steps taken
#   leak_line      the line that keeps a graph alive every step (the planted leak)
#   leak_bytes     bytes held per step by what that line keeps: the storages of the tensors its
#                  graph saved, the loss included, parameters excluded
#   wide_module    the module whose output is the largest activation
# Modes (second argument): "leak" (default) trains and plants the leak; "workers" trains without a
# leak from a DataLoader with two worker processes.
# Prints a line per step and exits with status 3, so tests can see output and status unchanged.
import json
import sys

import torch
import torch.nn as nn

torch.manual_seed(0)
torch.set_num_threads(1)

BATCH, WIDE = 256, 4096


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, WIDE), nn.Linear(WIDE, 32))
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.encoder(x))


def held_bytes(loss, params):
    """Bytes of the storages loss's graph keeps alive (and loss's own), parameters excluded."""
    skip = {p.data_ptr() for p in params}
    storages = {loss.storage().data_ptr(): loss.storage().nbytes()}
    seen, todo = set(), [loss.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        for name in dir(node):
            if not name.startswith("_saved_"):
                continue
            value = getattr(node, name)
            for t in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(t, torch.Tensor) and t.storage().data_ptr() not in skip:
                    storages[t.storage().data_ptr()] = t.storage().nbytes()
        todo.extend(n for n, _ in node.next_functions)
    return sum(storages.values())


class Batches(torch.utils.data.Dataset):
    def __len__(self):
        return 12 * BATCH

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return torch.randn(64, generator=g), int(torch.randint(0, 10, (1,), generator=g))


def main():
    out, mode = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "leak")
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    crit = nn.CrossEntropyLoss()
    facts = {"modules": [[p, type(m).__name__] for p, m in model.named_modules() if p],
             "root": type(model).__name__, "wide_module": "encoder.2 (Linear)"}
    if mode == "workers":
        batches = torch.utils.data.DataLoader(Batches(), batch_size=BATCH, num_workers=2)
    else:
        batches = [(torch.randn(BATCH, 64), torch.randint(0, 10, (BATCH,))) for _ in range(12)]
    kept, held, steps = [], [], 0
    for x, y in batches:
        loss = crit(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
        if mode == "leak":
            facts["leak_line"] = sys._getframe().f_lineno + 1
            kept.append(crit(model(x), y))  # an evaluation without no_grad, its loss kept
            held.append(held_bytes(kept[-1], list(model.parameters())))
        print("step %d loss %.4f" % (steps, float(loss)))
    facts["steps"] = steps
    if held:
        facts["leak_bytes"] = sum(held) / len(held)
    with open(out, "w") as f:
        json.dump(facts, f)
    sys.stdout.flush()
    sys.exit(3)


if __name__ == "__main__":
    main()
