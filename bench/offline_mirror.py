"""Benchmark the offline store on S3: what mirroring costs, and what reading the training set's features from
S3 costs, on a local S3-compatible server (moto, a Python process on this machine: its throughput is not S3's).

Baselines measured in the same run: a plain upload of the same files (`pyarrow.fs.copy_files`) for the first
sync, and the same join reading the workspace's files on disk for the join reading S3.

    python bench/offline_mirror.py --customers 10000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.fs as pafs
from _measure import measure, median_of  # bench/ is on sys.path when run as a script

from propensity.config import FEAST_YAML_ENV, OFFLINE_URI_ENV, Workspace
from propensity.datagen.synthetic import SyntheticConfig, generate_synthetic
from propensity.features.catalog import FEATURE_SERVICE
from propensity.features.feast_cli import run_feast
from propensity.features.pipeline import build_features
from propensity.offline_mirror import sync_offline
from training.config import TrainingSetRequest
from training.joining import join_training_set
from training.labels import build_labels


def s3_server() -> tuple[subprocess.Popen, str]:
    """A moto S3 server on a free port, with the AWS variables pointing at it (set before Ray starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)], stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    pafs.S3FileSystem(endpoint_override=endpoint, allow_bucket_creation=True).create_dir("bench")
    return server, "s3://bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    server, bucket = s3_server()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-mirror-") as tmp:
            ws = Workspace.resolve(Path(tmp)).activate()
            generate_synthetic(SyntheticConfig(customers=args.customers), ws.raw_dir)
            build_features(ws)
            build_labels(ws)
            assert run_feast(ws, ["apply"], capture=True).returncode == 0
            files = [f for f in ws.offline_dir.rglob("*") if f.is_file() and ".staging" not in f.parts]
            size = sum(f.stat().st_size for f in files)
            disk = median_of([measure(lambda: join_training_set(ws, TrainingSetRequest(FEATURE_SERVICE)))
                              for _ in range(args.repeats)])  # fmt: skip

            fs, root = pafs.FileSystem.from_uri(bucket)
            plain, first, idle, mirrored = [], [], [], None
            for run in range(args.repeats):
                plain.append(measure(lambda r=run: pafs.copy_files(str(ws.offline_dir), f"{root}/plain-{r}",
                                                                   destination_filesystem=fs)))  # fmt: skip
                mirrored = Workspace(root=ws.root, offline_uri=f"{bucket}/mirror-{run}")
                first.append(measure(lambda w=mirrored: sync_offline(w)))
                idle.append(measure(lambda w=mirrored: sync_offline(w)))
            os.environ.update({OFFLINE_URI_ENV: mirrored.offline_uri, FEAST_YAML_ENV: str(mirrored.feast_yaml)})
            ws = Workspace.resolve(ws.root).activate()
            assert run_feast(ws, ["apply"], capture=True).returncode == 0
            remote = median_of([measure(lambda: join_training_set(ws, TrainingSetRequest(FEATURE_SERVICE)))
                                for _ in range(args.repeats)])  # fmt: skip
    finally:
        server.terminate()
    plain_m, first_m, idle_m = median_of(plain), median_of(first), median_of(idle)
    print(f"customers={args.customers:,} files={len(files):,} size={size / 2**20:.0f} MiB repeats={args.repeats}")
    print(f"plain upload (copy_files)  {plain_m.seconds:7.2f} s")
    print(f"first sync                 {first_m.seconds:7.2f} s  {first_m.seconds / plain_m.seconds:.2f}x the upload")
    print(f"sync with nothing new      {idle_m.seconds:7.2f} s  {idle_m.seconds / first_m.seconds:.3f}x the first")
    print(f"training set from disk     {disk.seconds:7.2f} s")
    print(f"training set from S3       {remote.seconds:7.2f} s  {remote.seconds / disk.seconds:.2f}x disk")


if __name__ == "__main__":
    main()
