"""Reading NIR files: the graph (in a forked child with a time limit), flattened with its
subgraphs inlined, and the weight arrays it holds by the names the import gives them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compiler.errors import SpikecError

WEIGHT_FIELDS = ("weight", "bias", "scale")
"""The array fields of NIR nodes that become `spike.global`s (parameters of neurons become op
properties)."""

READ_SECONDS = 10.0
"""How long reading a NIR file may take, besides 1 s per 10 MB of it (`_read_with_time_limit`)."""


def read_graph(path: str | Path) -> Any:
    """The NIR graph in a file, or a clear error (the `nir` package missing, not HDF5, not NIR,
    or a file libhdf5 cannot finish reading)."""
    try:
        import nir
    except ImportError:
        raise SpikecError(
            "reading NIR needs the 'nir' package: pip install 'spikec[nir]'", where=str(path)
        ) from None
    if not Path(path).is_file():
        raise SpikecError("no such file", where=str(path))
    ok, graph = _read_with_time_limit(Path(path))
    if not ok:
        raise SpikecError(
            f"not a readable NIR file ({graph}); spikec reads the HDF5 files nir.write produces",
            where=str(path),
        )
    if not isinstance(graph, nir.NIRGraph):
        raise SpikecError(
            f"the file holds a single {type(graph).__name__} node, not a NIRGraph", where=str(path)
        )
    return graph


def _read_with_time_limit(path: Path) -> tuple[bool, Any]:
    """`nir.read` in a forked child: libhdf5 can loop forever on a corrupted file, inside C code
    no signal interrupts, so the child is killed after `READ_SECONDS` plus 1 s per 10 MB.
    (True, graph) or (False, why)."""
    import multiprocessing

    seconds = READ_SECONDS + path.stat().st_size / 10e6
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_read_into, args=(path, sender), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(seconds):
            return False, f"reading it did not finish within {seconds:.0f} s: a corrupted HDF5 file"
        result: tuple[bool, Any] = receiver.recv()
        return result
    except EOFError:
        return False, "the reader stopped without an answer"
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiver.close()


def _read_into(path: Path, sender: Any) -> None:
    import nir

    try:
        sender.send((True, nir.read(path)))
    except Exception as e:  # h5py and nir raise anything from OSError to KeyError
        sender.send((False, f"{type(e).__name__}: {e}"))
    finally:
        sender.close()


# ---------------------------------------------------------------------------------------------
# Flattening nested graphs
# ---------------------------------------------------------------------------------------------


@dataclass
class FlatGraph:
    """A NIR graph with its subgraphs inlined: leaf nodes by dotted path, edges between them."""

    nodes: dict[str, Any] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


def flatten(graph: Any, where: str) -> FlatGraph:
    import nir

    flat = FlatGraph()

    def endpoint(g: Any, prefix: str, name: str, role: str) -> str:
        """The leaf an edge's end names: a subgraph stands for its one Input (as a target) or
        its one Output (as a source); `sub.inner` names a node inside subgraph `sub`."""
        if name in g.nodes:
            node = g.nodes[name]
            if not isinstance(node, nir.NIRGraph):
                return prefix + name
            kind = nir.Input if role == "target" else nir.Output
            ends = [k for k, v in node.nodes.items() if isinstance(v, kind)]
            if len(ends) != 1:
                raise SpikecError(
                    f"edge {role} '{prefix}{name}' is a subgraph with {len(ends)} "
                    f"{kind.__name__} nodes; spikec needs exactly one",
                    where=where,
                )
            return endpoint(node, f"{prefix}{name}.", ends[0], role)
        head, dot, rest = name.partition(".")
        if dot and isinstance(g.nodes.get(head), nir.NIRGraph):
            return endpoint(g.nodes[head], f"{prefix}{head}.", rest, role)
        raise SpikecError(
            f"an edge names node '{prefix}{name}', which the graph does not hold "
            f"(its nodes: {', '.join(sorted(g.nodes)) or 'none'})",
            where=where,
        )

    def walk(g: Any, prefix: str) -> None:
        for name, node in g.nodes.items():
            if isinstance(node, nir.NIRGraph):
                walk(node, f"{prefix}{name}.")
            else:
                flat.nodes[prefix + name] = node
        for edge in g.edges:
            if len(edge) != 2:
                raise SpikecError(f"edge {edge!r} is not a (source, target) pair", where=where)
            source = endpoint(g, prefix, str(edge[0]), "source")
            target = endpoint(g, prefix, str(edge[1]), "target")
            flat.edges.append((source, target))

    walk(graph, "")
    flat.inputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    flat.outputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Output)]
    return flat


def nir_tensors(path: Path) -> dict[str, np.ndarray]:
    """The weight arrays of a NIR file by global name (`node.weight`), as the import names them."""
    flat = flatten(read_graph(path), str(path))
    arrays: dict[str, np.ndarray] = {}
    for name, node in flat.nodes.items():
        for key in WEIGHT_FIELDS:
            value = getattr(node, key, None)
            if value is not None and not isinstance(value, bool | str):
                arrays[f"{name}.{key}"] = np.ascontiguousarray(np.asarray(value, np.float32))
    return arrays
