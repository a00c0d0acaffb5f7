"""``gridmgr inspect`` as a user runs it, and verification of a published draw in other
processes (a fresh interpreter, with another hash seed, reading only the published files)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gridmgr import Grid
from gridmgr.grid.generations import store_generation
from gridmgr.settings import Settings
from tests.test_cli import flat, invoke, run_main

PLAN = {
    "name": "二季度双随机抽查",
    "period": {"start": "2026-04-01", "end": "2026-06-30"},
    "departments": {"scjg": ["食品安全", "价格行为"], "xfjy": ["消防安全"], "cgj": ["市容"]},
    "ratios": {"A": "0.3", "B": "0.1", "C": "0.05", "D": "0.02"},
}
HASH = re.compile(r"result hash ([0-9a-f]{64})")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_dir(tmp_path: Path, tiny: Grid) -> Path:
    folder = tmp_path / "data"
    store_generation(tiny, Settings(data_dir=folder))
    return folder


def gridmgr_in_subprocess(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``gridmgr ARGS`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", "import sys; from gridmgr.cli import main; main(sys.argv[1:])",
         *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )  # fmt: skip


def run_ok(data_dir: Path, *args: str) -> str:
    result = invoke(data_dir, *args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


@pytest.fixture
def published(data_dir: Path, tmp_path: Path) -> tuple[Path, str, Path]:
    """A draw made end to end with the CLI and exported: (folder, result hash, database)."""
    db = f"sqlite:///{tmp_path / 'gridmgr.sqlite'}"
    run_ok(data_dir, "db", "init", "--db", db)
    run_ok(data_dir, "inspect", "registry", "generate", "--n", "1200", "--db", db)
    run_ok(data_dir, "inspect", "pool", "generate", "--db", db)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(PLAN, ensure_ascii=False), encoding="utf-8")
    out = run_ok(data_dir, "inspect", "plan", "create", str(plan_file), "--db", db)
    plan_id = re.search(r"plan (plan-[0-9a-f]{12}) created", out)
    assert plan_id
    seed_file = tmp_path / "secret" / "seed.txt"
    out = run_ok(
        data_dir, "inspect", "draw", "commit", plan_id[1], "--seed-out", str(seed_file),
        "--db", db, "--at", "2026-03-31 09:00",
    )  # fmt: skip
    draw_id = re.search(r"draw (draw-[0-9a-f]{12}) committed", out)
    assert draw_id
    commitment = re.search(r"commitment ([0-9a-f]{64})", out)
    assert commitment
    out = run_ok(data_dir, "inspect", "draw", "run", draw_id[1], "--seed-file", str(seed_file),
                 "--db", db)  # fmt: skip
    assert "bundling saved" in out
    found = HASH.search(out)
    assert found
    run_ok(data_dir, "inspect", "draw", "reveal", draw_id[1], "--seed-file", str(seed_file),
           "--db", db)  # fmt: skip
    out = run_ok(data_dir, "inspect", "verify-draw", draw_id[1], "--db", db)
    assert found[1] in out
    shown = json.loads(run_ok(data_dir, "inspect", "draw", "show", draw_id[1], "--db", db))
    assert (shown["state"], shown["result_hash"]) == ("revealed", found[1])
    folder = tmp_path / "published"
    run_ok(data_dir, "inspect", "draw", "export", draw_id[1], "--out", str(folder), "--db", db)
    body = json.loads((folder / "draw.json").read_text(encoding="utf-8"))
    assert body["commitment"] == commitment[1]
    assert body["seed"] == seed_file.read_text(encoding="utf-8").strip()
    return folder, found[1], tmp_path / "gridmgr.sqlite"


def test_a_published_draw_verifies_in_another_process(published: tuple[Path, str, Path]) -> None:
    folder, result_hash, _ = published
    done = gridmgr_in_subprocess(
        "inspect", "verify-draw", "--published", str(folder), env={"PYTHONHASHSEED": "12345"}
    )
    assert done.returncode == 0, done.stderr
    assert f"result hash {result_hash}" in flat(done.stdout)


def test_a_fresh_interpreter_reproduces_the_draw_from_the_files(
    published: tuple[Path, str, Path],
) -> None:
    folder, result_hash, _ = published
    script = (
        "import json, sys; from pathlib import Path\n"
        "from gridmgr.inspection.draw import run_draw\n"
        "from gridmgr.inspection.plan import parse_plan\n"
        "from gridmgr.inspection.pool import read_pool\n"
        "from gridmgr.inspection.registry import read_registry\n"
        "f = Path(sys.argv[1]); seed = json.loads((f / 'draw.json').read_text())['seed']\n"
        "r = run_draw(parse_plan((f / 'plan.json').read_text()), read_registry(f / "
        "'registry.csv'), read_pool(f / 'pool.csv'), seed)\n"
        "print(r.result_hash)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder)],
        capture_output=True, text=True, cwd=REPO, timeout=300, check=False,
        env={**os.environ, "PYTHONHASHSEED": "999"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == result_hash


def test_a_tampered_published_registry_fails_verification_with_exit_1(
    published: tuple[Path, str, Path],
) -> None:
    folder, _, _ = published
    registry = folder / "registry.csv"
    lines = registry.read_text(encoding="utf-8-sig").splitlines()
    lines.pop(5)  # one target quietly removed
    registry.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = gridmgr_in_subprocess("inspect", "verify-draw", "--published", str(folder))
    assert done.returncode == 1
    assert "DRAW DOES NOT VERIFY" in done.stderr
    assert "registry snapshot differs" in flat(done.stderr)


def test_a_wrong_seed_fails_verification(
    data_dir: Path, published: tuple[Path, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _, _ = published
    code, _, err = run_main(
        data_dir, "inspect", "verify-draw", "--published", str(folder), "--seed", "ab" * 32,
        capsys=capsys,
    )  # fmt: skip
    assert code == 1
    assert "does not match the commitment" in flat(err)


def test_results_are_recorded_and_published_as_csv(
    data_dir: Path, published: tuple[Path, str, Path], tmp_path: Path
) -> None:
    folder, _, db_path = published
    db = f"sqlite:///{db_path}"
    body = json.loads((folder / "draw.json").read_text(encoding="utf-8"))
    visit = body["visits"][0]
    dept, item = visit["items"][0]
    run_ok(
        data_dir, "inspect", "results", "record", body["draw_id"], str(visit["visit_no"]),
        "--department", dept, "--item", item, "--outcome", "issues", "--note", "内部备注",
        "--db", db, "--by", visit["officers"][0],
    )  # fmt: skip
    out_csv = tmp_path / "public.csv"
    out = run_ok(data_dir, "inspect", "results", "publish", "--csv", str(out_csv), "--db", db)
    assert "1 result row(s)" in out
    text = out_csv.read_text(encoding="utf-8-sig")
    assert visit["target_id"] in text
    assert "发现问题" in text
    assert "内部备注" not in text
    assert visit["officers"][0] not in text


def test_a_bad_registry_file_lists_its_rows(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'gridmgr.sqlite'}"
    run_ok(data_dir, "db", "init", "--db", db)
    bad = tmp_path / "registry.csv"
    bad.write_text(
        "target_id,name,lon,lat,risk,departments\n"
        "T1,甲,120.06,31.93,A,scjg\n"
        "T2,乙,130.0,31.93,A,scjg\n"
        "T3,丙,120.06,31.93,Z,scjg\n",
        encoding="utf-8",
    )
    code, _, err = run_main(data_dir, "inspect", "registry", "import", str(bad), "--db", db,
                            capsys=capsys)  # fmt: skip
    assert code == 1
    text = flat(err)
    assert "registry.csv row 3 [lon]" in text
    assert "registry.csv row 4 [risk]" in text
    assert "row 2" not in text


def test_commit_needs_exactly_one_way_to_fix_the_seed(data_dir: Path) -> None:
    result = invoke(data_dir, "inspect", "draw", "commit", "plan-x")
    assert result.exit_code == 2
    assert "--seed-out" in result.output
