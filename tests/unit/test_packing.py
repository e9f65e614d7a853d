"""Trained tensors stored as int8 rows with a scale each come back within half a step of every row."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from workers.scoring import packing


def _tensors() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    return {
        "bert.encoder.layer.0.intermediate.dense.weight": torch.randn(1536, 384, generator=gen),
        "bert.encoder.layer.0.intermediate.dense.bias": torch.randn(1536, generator=gen),
        "classifier.weight": torch.randn(6, 384, generator=gen),
    }


def test_weight_matrices_round_trip_within_half_a_step_of_their_row() -> None:
    tensors = _tensors()
    back = packing.unpack(packing.pack(tensors, int8=True))
    name = "bert.encoder.layer.0.intermediate.dense.weight"
    step = tensors[name].abs().amax(dim=1, keepdim=True) / 127.0
    error = (back[name] - tensors[name]).abs()
    assert bool((error <= step * 0.501).all())  # the fp16 scale may sit 0.05 % off the exact step
    assert set(back) == set(tensors) and all(v.dtype == torch.float32 for v in back.values())


def test_only_large_weight_matrices_are_stored_as_int8() -> None:
    stored = packing.pack(_tensors(), int8=True)
    assert stored["bert.encoder.layer.0.intermediate.dense.weight"].dtype == torch.int8
    assert stored["bert.encoder.layer.0.intermediate.dense.weight" + packing.SCALE].shape == (1536,)
    assert stored["bert.encoder.layer.0.intermediate.dense.bias"].dtype == torch.float16
    assert stored["classifier.weight"].dtype == torch.float16
    assert packing.dtype_of(stored) == "int8-rows+float16"


def test_a_packed_file_is_about_half_the_size_of_fp16(tmp_path: Path) -> None:
    tensors = _tensors()
    save_file(packing.pack(tensors, int8=False), str(tmp_path / "fp16.safetensors"))
    save_file(packing.pack(tensors, int8=True), str(tmp_path / "int8.safetensors"))
    fp16 = (tmp_path / "fp16.safetensors").stat().st_size
    int8 = (tmp_path / "int8.safetensors").stat().st_size
    assert int8 < 0.52 * fp16


def test_a_plain_fp16_file_reads_back_unchanged(tmp_path: Path) -> None:
    tensors = _tensors()
    stored = packing.pack(tensors, int8=False)
    assert packing.dtype_of(stored) == "float16"
    save_file(stored, str(tmp_path / "head.safetensors"))
    back = packing.unpack(load_file(str(tmp_path / "head.safetensors")))
    assert all(torch.equal(back[k], stored[k].float()) for k in tensors)
