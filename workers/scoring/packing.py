"""Compact storage of trained tensors: int8 matrices with a fp16 scale per row, everything else fp16.

The worker runs every ``Linear`` layer as dynamic int8 with one scale per output channel
(``toxicity.quantize_linear``), so shipping those weights as int8 rows costs the served model almost
nothing, and halves the committed file next to fp16. A packed matrix ``name`` is stored as the int8 tensor
``name`` and the fp16 tensor ``name + SCALE``; ``unpack`` turns a file's tensors back into fp32 and reads
files without scales (plain fp16, the English model's format) unchanged.

Nothing here imports torch at module import time.
"""

from __future__ import annotations

from typing import Any

SCALE = ":row_scale"
MIN_SIDE = 64  # smaller matrices (the 6-label classifier) stay fp16


def packable(name: str, tensor: Any) -> bool:
    """Whether ``tensor`` is a weight matrix worth storing as int8 rows."""
    return name.endswith(".weight") and tensor.dim() == 2 and min(tensor.shape) >= MIN_SIDE


def pack(tensors: dict[str, Any], int8: bool) -> dict[str, Any]:
    """``tensors`` as stored: fp16, or (``int8``) weight matrices as symmetric int8 rows plus row scales."""
    import torch

    out: dict[str, Any] = {}
    for name, tensor in tensors.items():
        value = tensor.detach().to("cpu").float()
        if not (int8 and packable(name, value)):
            out[name] = value.half().contiguous()
            continue
        # the scale as stored (fp16) is the one the rows are rounded with: each weight within half a step
        scale = (value.abs().amax(dim=1, keepdim=True).clamp(min=1e-6) / 127.0).half()
        out[name] = torch.round(value / scale.float()).clamp(-127, 127).to(torch.int8).contiguous()
        out[name + SCALE] = scale.squeeze(1).contiguous()
    return out


def unpack(stored: dict[str, Any]) -> dict[str, Any]:
    """The fp32 tensors a packed (or plain fp16) file holds."""
    out: dict[str, Any] = {}
    for name, tensor in stored.items():
        if name.endswith(SCALE):
            continue
        scale = stored.get(name + SCALE)
        if scale is None:
            out[name] = tensor.float()
        else:
            out[name] = tensor.float() * scale.float().unsqueeze(1)
    return out


def dtype_of(stored: dict[str, Any]) -> str:
    """What the manifest records as the file's ``dtype``."""
    return "int8-rows+float16" if any(name.endswith(SCALE) for name in stored) else "float16"
