# tidemark's sitecustomize, first on PYTHONPATH under `tidemark record` (lib/tidemark/python). It
# arms the PyTorch hook (tidemark_torch.py) for when the program imports torch, then runs the
# sitecustomize it hides (Debian's, a virtualenv's, the user's), exactly as Python would have.
# The syntax stays valid for Python 2, which only gets the chaining.
import sys


def _tidemark_arm():
    if sys.version_info < (3, 8):
        return
    try:
        import tidemark_torch
        tidemark_torch.arm()
    except Exception as e:  # never the program's problem
        sys.stderr.write("tidemark: the PyTorch hook is off: %s\n" % (e,))


def _tidemark_chain():
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    sys.modules.pop("sitecustomize", None)
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    try:
        __import__("sitecustomize")
    except ImportError as e:
        # Python itself ignores a missing sitecustomize, and only that.
        # Without one, the program sees no sitecustomize module, as it would bare.
        if getattr(e, "name", "sitecustomize") != "sitecustomize":
            raise
    finally:
        sys.path[:] = saved


_tidemark_arm()
_tidemark_chain()
