"""torch, imported once with the install hint (the compiler and the runtime work without it).

``from ._torch import torch`` instead of ``import torch`` in the modules that
need it, so a missing torch says how to get it, as the scipy path does for .mat files.
"""

from __future__ import annotations

HINT = ("the training front end needs torch: pip install 'lstm2onnx[train]' (from a checkout of lstm2onnx: "
        "pip install '.[train]'), or pip install torch tqdm matplotlib")

try:
    import torch
except ModuleNotFoundError as error:
    if error.name != "torch":
        raise
    raise ModuleNotFoundError(HINT, name="torch") from None

__all__ = ["torch", "HINT"]
