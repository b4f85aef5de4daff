# Minimal safetensors reader/writer (F32, F16, BF16, I32, I64) over torch, for the reference tools.
# The system Python has no `safetensors` package, and the format is small enough to write by hand.
"""safetensors: 8-byte little-endian header length, JSON header, raw little-endian data.

The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} with
offsets relative to the start of the data section; "__metadata__" holds strings.
Writers pad the header with spaces so the data starts 8-byte aligned.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Dict, Mapping, Optional

import torch

HEADER_LEN_BYTES = 8
DATA_ALIGN = 8
DTYPES: Dict[str, torch.dtype] = {
    "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I32": torch.int32, "I64": torch.int64,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


def _raw_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the 16 bits
        t = t.view(torch.int16)
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()


def write_safetensors(path: str, tensors: Mapping[str, torch.Tensor], metadata: Optional[Mapping[str, str]] = None) -> None:
    """Writes tensors (sorted by name) to path via a temp file and rename."""
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in DTYPE_NAMES:
            raise ValueError(f"{name}: unsupported dtype {t.dtype}")
        data = _raw_bytes(t)
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % DATA_ALIGN)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path: str) -> Dict[str, torch.Tensor]:
    """Reads every tensor of a single-file safetensors checkpoint (checks offsets against the file size)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < HEADER_LEN_BYTES:
        raise ValueError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:HEADER_LEN_BYTES])
    if HEADER_LEN_BYTES + n > len(raw):
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(raw[HEADER_LEN_BYTES : HEADER_LEN_BYTES + n])
    data = memoryview(raw)[HEADER_LEN_BYTES + n :]
    out: Dict[str, torch.Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        count = 1
        for d in info["shape"]:
            count *= d
        if end - begin != count * torch.tensor([], dtype=dtype).element_size() or end > len(data):
            raise ValueError(f"{path}: tensor {name}: data_offsets {begin}..{end} do not fit shape {info['shape']}")
        buf = bytearray(data[begin:end])
        storage_dtype = torch.int16 if dtype == torch.bfloat16 else dtype
        t = torch.frombuffer(buf, dtype=storage_dtype) if count else torch.empty(0, dtype=storage_dtype)
        out[name] = t.view(dtype).reshape(info["shape"]) if dtype == torch.bfloat16 else t.reshape(info["shape"])
    return out


def read_checkpoint(model_dir: str) -> Dict[str, torch.Tensor]:
    """Reads model.safetensors, or every shard listed in model.safetensors.index.json."""
    index_path = os.path.join(model_dir, "model.safetensors.index.json")
    if not os.path.exists(index_path):
        return read_safetensors(os.path.join(model_dir, "model.safetensors"))
    with open(index_path, encoding="utf-8") as f:
        weight_map: Dict[str, str] = json.load(f)["weight_map"]
    out: Dict[str, torch.Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        out.update(read_safetensors(os.path.join(model_dir, shard)))
    return out
