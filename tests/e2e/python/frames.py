# A plain Python program (no torch) for tests/e2e/python/python_frames_test.cpp. Each allocation of
# interest is a bytearray of a distinct size, made on the same line that asks the interpreter for
# the stack that is making it; the stacks go to the JSON file named by argv[1] as ground truth.
import json
import sys
import threading

truth = {}


def here(depth):
    out = []
    f = sys._getframe(depth)
    while f is not None:
        code = f.f_code
        out.append([getattr(code, "co_qualname", code.co_name), code.co_filename, f.f_lineno])
        f = f.f_back
    return out


def leaf(tag, size):
    buf = bytearray(size); truth[tag] = {"size": size, "frames": here(1)}
    return buf


def recurse(n, tag, size):
    if n == 0:
        return leaf(tag, size)
    return recurse(n - 1, tag, size)


class Model:
    def forward(self, size):
        return recurse(4, "method", size)


def worker():
    leaf("thread", 2345681)


kept = [leaf("plain", 1234567), Model().forward(3456791)]
t = threading.Thread(target=worker, name="worker")
t.start()
t.join()
with open(sys.argv[1], "w") as out:
    json.dump(truth, out)
print("frames: %d allocations" % len(truth))
sys.exit(3)
