"""Read W&B's offline run files (``run-<id>.wandb``) with W&B's own record schema (``wandb.proto``).

The file is W&B's LevelDB-style log: a 7-byte header (``:W&B``, magic 0xBEE1, version 0), then 32 KiB blocks
of chunks ``crc32 (4) | length (2, little-endian) | type (1: full, 2: first, 3: middle, 4: last) | data``;
the chunks of one record concatenate to a serialized ``wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK, HEADER, CHUNK_HEADER = 32768, 7, 7


def records(path: Path) -> list:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    found, pending, offset = [], b"", HEADER
    while offset + CHUNK_HEADER <= len(data):
        left = BLOCK - offset % BLOCK
        if left < CHUNK_HEADER:  # the block's tail is padding
            offset += left
            continue
        _, length, kind = struct.unpack("<IHB", data[offset:offset + CHUNK_HEADER])
        if length == 0 and kind == 0:
            break
        pending += data[offset + CHUNK_HEADER:offset + CHUNK_HEADER + length]
        offset += CHUNK_HEADER + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            found.append(record)
            pending = b""
    return found


def key_of(item) -> str:
    return item.key or "/".join(item.nested_key)


def run_contents(run_dir: Path) -> dict:
    """Every offline part of the run in ``run_dir/wandb``: run ids, history rows ``{key: value}``, config
    keys, summary values."""
    ids, history, config, summary = set(), [], {}, {}
    for file in sorted(Path(run_dir, "wandb").glob("offline-run-*/run-*.wandb")):
        for record in records(file):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                ids.add(record.run.run_id)
                config.update({key_of(i): json.loads(i.value_json) for i in record.run.config.update})
            elif kind == "history":
                history.append({key_of(i): json.loads(i.value_json) for i in record.history.item})
            elif kind == "config":
                config.update({key_of(i): json.loads(i.value_json) for i in record.config.update})
            elif kind == "summary":
                summary.update({key_of(i): json.loads(i.value_json) for i in record.summary.update})
    return {"ids": ids, "history": history, "config": config, "summary": summary}
