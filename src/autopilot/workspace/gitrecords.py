"""``git.commit_per_run``: commit each finished run's records to the repository holding the workspace."""

from __future__ import annotations

import subprocess
from pathlib import Path

# Records only: checkpoints stay out of git history.
RECORD_PATHS = ("runs/{run_id}", "failures.json", "leaderboard.json", "journal", "cases", "proposals")


def commit_run(root: Path, run_id: str, message: str) -> str | None:
    """Commit the run's records; returns None on success, else why nothing was committed."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=120)

    try:
        if git("rev-parse", "--is-inside-work-tree").returncode != 0:
            return f"{root} is not inside a git repository"
        paths = [p.format(run_id=run_id) for p in RECORD_PATHS if (root / p.format(run_id=run_id)).exists()]
        added = git("add", "--", *paths)
        if added.returncode != 0:
            return f"git add failed: {added.stderr.strip()}"
        git("reset", "-q", "--", f"runs/{run_id}/checkpoints")
        if git("diff", "--cached", "--quiet").returncode == 0:
            return "nothing to commit"
        done = git("commit", "-q", "-m", message)
        return None if done.returncode == 0 else f"git commit failed: {done.stderr.strip()}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"git unavailable: {exc}"
