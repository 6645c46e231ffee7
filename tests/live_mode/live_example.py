"""The shipped live example, copied for a test: a quick engine, no metrics endpoint."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "live"
QUICK = {  # a live engine that does not wait for bundles to fill or polls to come round
    "SERIAL_BUNDLE_WINDOW_S": 0.02,
    "QUEUE_POLL_INTERVAL_S": 0.02,
    "QUEUE_CLEANUP_INTERVAL_S": 1.0,
    "RETRY_BACKOFF_BASE_S": 0.05,
    "RETRY_BACKOFF_MAX_S": 0.2,
}


def example_config(tmp_path: Path, **changes) -> Path:
    """``tmp_path/live``: the example (10 essays, 45 pairs), quick, with ``changes`` applied
    (a mapping merges into the section of that name); the configuration's path."""
    folder = tmp_path / "live"
    shutil.copytree(EXAMPLE, folder)
    path = folder / "eng5_sample.yaml"
    config = yaml.safe_load(path.read_text())
    config["metrics_port"] = None
    config["settings"] = {**config["settings"], **QUICK}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path.write_text(yaml.safe_dump(config))
    return path
