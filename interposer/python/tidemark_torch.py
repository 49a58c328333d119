"""tidemark's PyTorch hook: training phases and steps of an unmodified program.

`tidemark record` puts this directory on PYTHONPATH; sitecustomize.py calls arm(), which waits for
the program to import torch (a one-shot meta path finder) and then installs:

- global nn.Module forward pre/post hooks: the module running forward is the phase
  "forward/<path in the model> (<class>)", the root module "forward/<class>";
- a gradient hook on each module's outputs: when the gradient of a module's output arrives, the
  backward pass is in that module, "backward/<path> (<class>)"; "backward" before the first one;
- a wrapper around torch.autograd.backward and torch.autograd.grad (the whole backward pass);
- a wrapper around each optimizer class's step (PyTorch 1.x) or the global optimizer step hooks
  (2.x): "optimizer/<class>", and the end of each optimizer step ends a step. A step begins at the
  next root forward that records gradients, so evaluation under no_grad is outside every step.

Phases reach libtidemark.so (LD_PRELOADed into this process) through two C functions,
tidemark_model_phase() and tidemark_model_step() (interposer/model_phases.cpp). Nothing here
changes what the program computes: hooks return None, wrappers return what they wrap returned, and
any failure to install leaves the program as it was.
"""
import ctypes
import functools
import os
import sys
import threading
import weakref

_phase = None  # tidemark_model_phase(const char*)
_step = None   # tidemark_model_step(unsigned long long)


class _Thread(threading.local):
    def __init__(self):
        self.stack = []     # (forward label, backward label) of the modules running forward
        # Output tensors given a gradient hook in this root forward: id -> weak reference (a freed
        # tensor's id is reused by the next; a strong reference would keep activations alive).
        self.seen = {}


_thread = _Thread()
_labels = weakref.WeakKeyDictionary()  # module -> (forward label, backward label), bytes
_backward_hooks = {}                   # backward label -> the gradient hook that switches to it
_state = {"base": None, "step_open": False, "steps": 0}


def _bind():
    global _phase, _step
    lib = ctypes.CDLL(None)
    try:
        phase = lib.tidemark_model_phase
        step = lib.tidemark_model_step
    except AttributeError:
        return False  # libtidemark.so is not in this process (PYTHONPATH leaked into another tool)
    phase.argtypes = [ctypes.c_char_p]
    phase.restype = None
    step.argtypes = [ctypes.c_ulonglong]
    step.restype = None
    _phase, _step = phase, step
    return True


def _name_modules(root):
    cls = type(root).__name__
    _labels.setdefault(root, (("forward/" + cls).encode(), ("backward/" + cls).encode()))
    for path, sub in root.named_modules():
        if path and sub not in _labels:
            label = "%s (%s)" % (path, type(sub).__name__)
            _labels[sub] = (("forward/" + label).encode(), ("backward/" + label).encode())


def _labels_of(module, root):
    labels = _labels.get(module)
    if labels is None:
        if root:
            _name_modules(module)
        else:  # made inside a forward, or not reachable from the root's named_modules()
            cls = type(module).__name__
            _labels[module] = (("forward/" + cls).encode(), ("backward/" + cls).encode())
        labels = _labels[module]
    return labels


def _resume():
    """The phase after a module's forward returns: its caller's, else the base phase."""
    stack = _thread.stack
    _phase(stack[-1][0] if stack else _state["base"])


def _backward_hook(label):
    hook = _backward_hooks.get(label)
    if hook is None:
        def hook(grad):
            _state["base"] = label
            _phase(label)
        _backward_hooks[label] = hook
    return hook


def _install(torch):
    Tensor = torch.Tensor

    def pre(module, inputs):
        t = _thread
        root = not t.stack
        if root:
            t.seen.clear()
            if not _state["step_open"] and torch.is_grad_enabled():
                _state["steps"] += 1
                _state["step_open"] = True
                _step(_state["steps"])
        labels = _labels_of(module, root)
        t.stack.append(labels)
        _phase(labels[0])

    def hook_outputs(value, hook, seen):
        if isinstance(value, Tensor):
            if value.requires_grad and value.grad_fn is not None:
                ref = seen.get(id(value))
                if ref is None or ref() is not value:
                    seen[id(value)] = weakref.ref(value)
                    value.register_hook(hook)
        elif isinstance(value, (tuple, list)):
            for v in value:
                if isinstance(v, Tensor):
                    hook_outputs(v, hook, seen)
        elif isinstance(value, dict):
            for v in value.values():
                if isinstance(v, Tensor):
                    hook_outputs(v, hook, seen)

    def post(module, inputs, output):
        t = _thread
        labels = t.stack.pop() if t.stack else _labels_of(module, False)
        if torch.is_grad_enabled():
            hook_outputs(output, _backward_hook(labels[1]), t.seen)
        _resume()

    def around_backward(real, outside_forward):
        @functools.wraps(real)
        def backward(*args, **kwargs):
            if outside_forward:
                _thread.stack = []  # a forward that raised never popped its modules
            _state["base"] = b"backward"
            _phase(b"backward")
            try:
                return real(*args, **kwargs)
            finally:
                _state["base"] = None
                _resume()  # autograd.grad inside a forward (a gradient penalty) returns to it
        return backward

    def end_step():
        _phase(None)
        if _state["step_open"]:
            _state["step_open"] = False
            _step(0)

    modules = torch.nn.modules.module
    modules.register_module_forward_pre_hook(pre)
    modules.register_module_forward_hook(post)
    torch.autograd.backward = around_backward(torch.autograd.backward, True)
    torch.autograd.grad = around_backward(torch.autograd.grad, False)

    import importlib
    optimizer = importlib.import_module("torch.optim.optimizer")  # 1.13's torch.optim dels the name
    if hasattr(optimizer, "register_optimizer_step_post_hook"):  # PyTorch 2.x
        optimizer.register_optimizer_step_pre_hook(
            lambda opt, args, kwargs: _phase(("optimizer/" + type(opt).__name__).encode()))
        optimizer.register_optimizer_step_post_hook(lambda opt, args, kwargs: end_step())
        return

    Optimizer = torch.optim.Optimizer
    real_init = Optimizer.__init__

    def wrap_step(cls):
        real = cls.step
        if getattr(real, "_tidemark", False):
            return
        label = ("optimizer/" + cls.__name__).encode()

        @functools.wraps(real)
        def step(self, *args, **kwargs):
            _phase(label)
            try:
                return real(self, *args, **kwargs)
            finally:
                end_step()
        step._tidemark = True
        cls.step = step

    @functools.wraps(real_init)
    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        try:
            wrap_step(type(self))
        except Exception:
            pass

    Optimizer.__init__ = init


class _TorchFinder(object):
    """Finds nothing itself: lets the real finders find torch, then runs _install after torch's
    own module code has run."""

    def find_spec(self, name, path=None, target=None):
        if name != "torch":
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        import importlib.util
        spec = importlib.util.find_spec(name)
        loader = getattr(spec, "loader", None)
        real_exec = getattr(loader, "exec_module", None)
        if real_exec is None:
            return spec

        def exec_module(module):
            real_exec(module)
            try:
                _install(module)
            except Exception as e:
                sys.stderr.write("tidemark: no PyTorch phases: %s\n" % (e,))
        loader.exec_module = exec_module
        return spec


def arm():
    if os.environ.get("TIDEMARK_TORCH", "1") == "0" or not _bind():
        return
    if "torch" in sys.modules:  # imported by an earlier sitecustomize or .pth file
        _install(sys.modules["torch"])
        return
    sys.meta_path.insert(0, _TorchFinder())
