"""Rebuild an adapted Linear layer's output from a saved adapter folder, independently of singlora.

Usage: python3 check_adapter.py CASE_DIR [CASE_DIR ...]

Each CASE_DIR holds what saveAdapter writes (adapter_model.safetensors, adapter_config.json) and
reference.safetensors with the frozen layer (`weight` out x in, `bias` out), an input `x` and the
output `y` that singlora computed. The script parses the safetensors files with struct, json and
numpy only, rebuilds the adapted weight from the PEFT-style keys and compares x W'^T + b with y.
It prints one line per case and exits with status 1 if any case differs by more than 1e-5.
"""

import json
import math
import os
import struct
import sys

import numpy as np

TOLERANCE = 1e-5
PREFIX = "base_model.model."
DTYPES = {"F64": "<f8", "F32": "<f4", "I32": "<i4", "I64": "<i8"}


def read_safetensors(path):
    """Return {name: ndarray} from a safetensors file: u64 header length, JSON header, raw data."""
    with open(path, "rb") as f:
        content = f.read()
    (header_length,) = struct.unpack("<Q", content[:8])
    header = json.loads(content[8 : 8 + header_length].decode("utf-8"))
    data = content[8 + header_length :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {entry['dtype']}")
        array = np.frombuffer(data[begin:end], dtype=dtype).astype(np.float64)
        tensors[name] = array.reshape(entry["shape"])
    return tensors


def adapted_weight(config, adapter, path, weight):
    """W0 + delta W (and DoRA's rescaling) for the module at `path`, from the saved keys."""
    out_features, in_features = weight.shape
    rank = config["r"]
    alpha = config["lora_alpha"]
    scale = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
    key = PREFIX + path

    if config.get("peft_type") == "SINGLORA":
        a = adapter[key + ".singlora_A.weight"]
        expected_shape = (max(in_features, out_features), rank)
        if a.shape != expected_shape:
            raise ValueError(f"{key}.singlora_A.weight has shape {a.shape}, expected {expected_shape}")
        ramp_steps = config.get("ramp_steps", 0)
        step = config.get("singlora_step", 0)
        ramp = 1.0 if ramp_steps <= 0 else min(step / ramp_steps, 1.0)
        delta = scale * ramp * (a[:out_features] @ a[:in_features].T)
    else:
        a = adapter[key + ".lora_A.weight"]
        b = adapter[key + ".lora_B.weight"]
        delta = scale * (b @ a)

    v = weight + delta
    if config.get("use_dora"):
        magnitude = adapter[key + ".lora_magnitude_vector"]
        norms = np.sqrt((v * v).sum(axis=1))
        v = (magnitude / norms)[:, None] * v
    return v


def check_case(directory):
    with open(os.path.join(directory, "adapter_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    adapter = read_safetensors(os.path.join(directory, "adapter_model.safetensors"))
    reference = read_safetensors(os.path.join(directory, "reference.safetensors"))
    (path,) = config["target_modules"]

    weight = adapted_weight(config, adapter, path, reference["weight"])
    expected = reference["x"] @ weight.T + reference["bias"]
    difference = float(np.max(np.abs(expected - reference["y"])))
    scale = max(1.0, float(np.max(np.abs(expected))))
    ok = difference <= TOLERANCE * scale
    status = "ok" if ok else "MISMATCH"
    method = config.get("method", config.get("peft_type"))
    print(f"{status}: {directory} ({method}, weight {weight.shape[0]}x{weight.shape[1]}): max |difference| {difference:.3e}")
    return ok


def main(directories):
    if not directories:
        print(__doc__)
        return 2
    results = [check_case(directory) for directory in directories]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
