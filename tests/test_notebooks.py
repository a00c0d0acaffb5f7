"""Every notebook in notebooks/ runs top to bottom without an error, on two simulated days of the
tiny grid (grid_build rebuilds the real default grid), and is stored without outputs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from gridmgr import Grid
from gridmgr.datafiles import load_roster, routing_context
from gridmgr.grid.generations import store_generation
from gridmgr.settings import Settings
from gridmgr.store import open_store
from tests.test_analytics import END, simulate

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["coverage_review", "hotspots", "performance", "grid_build"]
TIMEOUT_S = 300


@pytest.fixture(scope="module")
def notebook_env(tmp_path_factory: pytest.TempPathFactory, tiny: Grid) -> dict[str, str]:
    """A data folder whose current grid is the tiny one, and a database of two simulated days
    on it: the environment the notebooks read."""
    folder = tmp_path_factory.mktemp("notebooks")
    settings = Settings(data_dir=folder / "data")
    store_generation(tiny, settings)
    load_roster(settings, tiny)
    db = folder / "notebooks.sqlite"
    store = open_store(f"sqlite:///{db}", create=True)
    try:
        simulate(store, routing_context(settings, tiny), end=END, days=2.0, per_day=90, seed=4)
    finally:
        store.close()
    return {
        "GRIDMGR_DATA_DIR": str(settings.data_dir),
        "GRIDMGR_NOTEBOOK_DB": str(db),
        "GRIDMGR_NOTEBOOK_END": (END + timedelta(minutes=1)).isoformat(),
        "GRIDMGR_NOTEBOOK_DAYS": "2",
        "GRIDMGR_NOTEBOOK_MIN_CASES": "3",
    }


def test_there_is_a_notebook_for_each_analysis() -> None:
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)
    assert (NOTEBOOKS / "README.md").is_file()


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_stored_without_outputs(name: str) -> None:
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert code
    assert all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_the_notebook_runs_without_error(
    name: str, notebook_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in notebook_env.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this process's environment
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(
        book,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "each notebook draws maps or charts"
