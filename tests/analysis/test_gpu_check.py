"""The CPU dry run of tools/gpu_check.py (so that the GPU check cannot rot): every part runs and reports rows."""

import json
import subprocess
import sys

from conftest import REPO


def test_gpu_check_cpu_dry_run(tmp_path):
    output = tmp_path / "report"
    command = [sys.executable, str(REPO / "tools" / "gpu_check.py"), "device=cpu", f"output={output}", "iters=1",
               "crop_size=[32,32]", "batch_size=2", "num_workers=0", "presets=[fcn_r50-d8]",
               "precisions=[fp32,fp16]", "layouts=[channels_last,nchw]", "compile=false",
               "peer_families=[fcn_r50]", "peer_variants=[default]", "peer_repeats=1"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((output / "gpu_check.json").read_text())
    rows = {(row["part"], row["setting"]): row for row in report["rows"]}
    assert {row["part"] for row in report["rows"]} == {"env", "train", "torchrun", "eval", "cuda_tests", "peers"}
    failures = [row for row in report["rows"] if row["status"] not in ("ok", "skipped")]
    assert not failures, failures
    assert rows[("train", "fp16, channels_last, eager")]["status"] == "skipped"  # CUDA only
    trained = rows[("train", "fp32, nchw, eager")]["figures"]
    assert trained["images_per_s"] > 0 and trained["loss"] > 0
    assert rows[("eval", "slide + flip")]["figures"]["mIoU"] >= 0
    under_torchrun = rows[("torchrun", "torchrun --nproc_per_node=1, gloo, DDP")]["figures"]
    assert under_torchrun["process_group"] == "gloo" and under_torchrun["world_size"] == 1
    assert "| train | fcn_r50-d8 | fp32, channels_last, eager | ok |" in (output / "gpu_check.md").read_text()
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "is not empty" in again.stderr  # a report is never written over


def test_gpu_check_times_out_a_part_as_a_row(tmp_path):
    output = tmp_path / "report"
    command = [sys.executable, str(REPO / "tools" / "gpu_check.py"), "device=cpu", f"output={output}",
               "parts=[train]", "presets=[fcn_r50-d8]", "precisions=[fp32]", "layouts=[nchw]", "compile=false",
               "limits.train=1"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads((output / "gpu_check.json").read_text())["rows"]
    assert [row["status"] for row in rows] == ["timeout"] and "limits.train" in rows[0]["detail"]
