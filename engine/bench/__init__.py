"""`manage.py bench_engine`: what the engine costs, measured on this machine.

- `generation`: our scheduler against a naive baseline, same model, same workload, same run;
- `faq`: the server-side time of a keyword-FAQ answer (no model);
- `retrieval`: BM25 retrieval over a synthetic store of 10,000 FAQ entries (no model);
- `report`: the figures as one dict (`--json`) and as the table the README quotes.

Every part runs on the demo store's own data (`demo_snapshot`), without a database.
"""

import json
from collections.abc import Sequence
from pathlib import Path

from engine.knowledge import StoreSnapshot, snapshot_from_file
from engine.stats import percentile

DEMO_FILE = Path(__file__).resolve().parents[2] / "kb" / "demo" / "demo_store.json"


def demo_snapshot(path: Path = DEMO_FILE) -> StoreSnapshot:
    """The demo store as the engine sees it, straight from its knowledge-base file."""
    return snapshot_from_file(json.loads(path.read_text(encoding="utf-8")))


def pct(values: Sequence[float], q: float) -> float:
    """`engine.stats.percentile`, NaN for no values: a figure the table still prints and JSON keeps."""
    value = percentile(values, q)
    return float("nan") if value is None else value
