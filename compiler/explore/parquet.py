"""`spikec sweep --parquet FILE`: the sweep's table as Parquet, for dataframe tools (pandas,
polars, DuckDB, Spark) that read typed columns without parsing text.

The CSV stays the sweep's state (rows appended as points finish, resumable); the Parquet file is
written once, atomically, from the finished table. Written with pyarrow, an optional extra
(`pip install spikec[parquet]`): a columnar file format is not code to write ourselves.

Columns: each grid key as a string (the setting as given), the figures as float64 (null for a
failed point), `numerics` (in hardware numerics) as a string, `pareto` as a boolean and `status`
as a string; the file's metadata records the
model, the target and the grid's keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from compiler.errors import SpikecError
from compiler.explore.sweep import NUMERICS, PARETO, STATUS, Sweep
from compiler.ir.files import write_atomically


def check_pyarrow() -> None:
    """SpikecError (exit 2) if pyarrow is not installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise SpikecError(
            "--parquet needs pyarrow: install spikec[parquet] (pip install 'spikec[parquet]')"
        ) from None


def write_parquet(result: Sweep, path: str, metadata: dict[str, Any]) -> None:
    """The sweep's rows (in the grid's order) into the Parquet file `path`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    marked = set(result.pareto)
    columns: dict[str, Any] = {}
    fields = []
    for key in result.columns:
        values = [row[key] for row in result.rows]
        if key in result.keys or key in (STATUS, NUMERICS):
            fields.append(pa.field(key, pa.string(), nullable=False))
            columns[key] = [str(v) for v in values]
        else:
            fields.append(pa.field(key, pa.float64()))
            columns[key] = [None if v is None else float(v) for v in values]
    fields.insert(-1, pa.field(PARETO, pa.bool_(), nullable=False))
    columns[PARETO] = [i in marked for i in range(len(result.rows))]
    schema = pa.schema(fields, metadata={"spikec": json.dumps(metadata)})
    table = pa.table({f.name: columns[f.name] for f in fields}, schema=schema)

    def write(tmp: Path) -> None:
        pq.write_table(table, tmp)

    write_atomically(path, write)
