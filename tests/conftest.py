"""Shared test fixtures. The real LFM-1b excerpt is read from ../shared beside the clone, never copied."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def excerpt_dir() -> Path:
    """Folder of the real LFM-1b excerpt (100,000 events, 17 users) in the original file format."""
    path = SHARED / "data" / "lfm1b-excerpt"
    if not (path / "LFM-1b_LEs.txt").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the LFM-1b excerpt at {path} (shared/ beside the clone)")
        pytest.skip(f"the real LFM-1b excerpt is not at {path} (it is not part of the clone)")
    return path


@pytest.fixture(scope="session")
def paper_reference_dir() -> Path:
    """Folder with the paper's reported numbers (Table 4 CSV, other tables)."""
    path = SHARED / "reference"
    if not (path / "paper_table4.csv").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the paper's reference numbers at {path}")
        pytest.skip(f"the paper's reference numbers are not at {path} (they are not part of the clone)")
    return path
