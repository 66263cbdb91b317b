"""Shared test fixtures. The real LFM-1b excerpt is read from ../shared beside the clone, never copied."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def excerpt_dir() -> Path:
    """Folder of the real LFM-1b excerpt (100,000 events, 17 users) in the original file format."""
    path = SHARED / "data" / "lfm1b-excerpt"
    if not (path / "LFM-1b_LEs.txt").exists():
        pytest.fail(f"the LFM-1b excerpt is expected at {path} (shared/ beside the clone)")
    return path


@pytest.fixture(scope="session")
def paper_reference_dir() -> Path:
    """Folder with the paper's reported numbers (Table 4 CSV, other tables)."""
    return SHARED / "reference"
