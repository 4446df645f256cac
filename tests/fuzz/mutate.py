"""Seeded mutators of spikec's inputs: ONNX models (bytes and protobuf structure), IR text and
program folders. Each mutator takes a `random.Random` and returns the mutant; the fuzz tests run
spikec on mutants and hold it to its contract (exit 2 with one message and no file, or exit 0
with outputs equal to onnxruntime's)."""

from __future__ import annotations

import random

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

STANDARD_OPS = ("Add", "Mul", "Sub", "Relu", "MatMul", "Reshape", "Transpose", "Conv", "Concat")
HUGE = 1 << 40


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    """A few bytes replaced at random positions (past the first, so the file stays protobuf-like
    more often than not)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(1, len(out))] = rng.randrange(256)
    return bytes(out)


def invalid_utf8_name(data: bytes, model: onnx.ModelProto, rng: random.Random) -> bytes:
    """A node or value name's bytes replaced by bytes that are not UTF-8."""
    names = [n.name for n in model.graph.node if len(n.name) >= 3] or [
        o for n in model.graph.node for o in n.output if len(o) >= 3
    ]
    name = rng.choice(names).encode()
    at = data.find(name)
    if at < 0:
        return flip_bytes(data, rng)
    bad = bytes(rng.choice((0xFF, 0xFE, 0xC0, 0x80)) for _ in range(len(name)))
    return data[:at] + bad + data[at + len(name) :]


def _tensor_mutation(tensor: onnx.TensorProto, rng: random.Random) -> None:
    choice = rng.randrange(7)
    if choice == 0 and tensor.dims:  # dims that do not fit the data
        tensor.dims[rng.randrange(len(tensor.dims))] += rng.choice((-1, 1, 7))
    elif choice == 1 and tensor.dims:
        tensor.dims[rng.randrange(len(tensor.dims))] = rng.choice((-3, 0, HUGE))
    elif choice == 2:
        tensor.data_type = rng.choice((0, 2, 3, 7, 9, 10, 11, 16, 99))
    elif choice == 3:  # a huge declared tensor with no data
        tensor.ClearField("raw_data")
        tensor.ClearField("float_data")
        tensor.dims.append(HUGE)
    elif choice == 4 and tensor.data_type == TensorProto.FLOAT:  # non-finite values
        array = numpy_helper.to_array(tensor).copy()
        if array.size:
            array.reshape(-1)[rng.randrange(array.size)] = rng.choice((np.inf, -np.inf, np.nan))
            tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))
    elif choice == 5:
        tensor.dims.append(1)
    else:
        tensor.ClearField("dims")


def _attribute_mutation(node: onnx.NodeProto, rng: random.Random) -> None:
    if node.attribute and rng.random() < 0.7:
        attr = node.attribute[rng.randrange(len(node.attribute))]
        value: object = rng.choice((-1, 0, 3, HUGE, 2.5, "bogus", [1, -1], [0.5]))
        node.attribute.remove(attr)
        node.attribute.append(helper.make_attribute(attr.name, value))
    else:
        node.attribute.append(helper.make_attribute(rng.choice(("axis", "pads", "perm")), -7))


def structured(model: onnx.ModelProto, rng: random.Random) -> onnx.ModelProto:
    """One protobuf-level change of a copy of `model`."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    choice = rng.randrange(12)
    if choice == 0 and g.initializer:
        _tensor_mutation(g.initializer[rng.randrange(len(g.initializer))], rng)
    elif choice == 1 and g.node:
        _attribute_mutation(g.node[rng.randrange(len(g.node))], rng)
    elif choice == 2 and g.node:
        g.node[rng.randrange(len(g.node))].op_type = rng.choice(STANDARD_OPS)
    elif choice == 3 and g.node:
        g.node[rng.randrange(len(g.node))].domain = rng.choice(("com.example", "spike", "x"))
    elif choice == 4:
        m.opset_import[0].version = rng.choice((1, 5, 12, 99))
    elif choice == 5 and g.input:
        dims = g.input[0].type.tensor_type.shape.dim
        if dims:
            dims[rng.randrange(len(dims))].dim_value = rng.choice((0, 3, HUGE))
    elif choice == 6 and len(g.node) > 1:
        del g.node[rng.randrange(len(g.node))]
    elif choice == 7 and g.node:
        node = g.node[rng.randrange(len(g.node))]
        if len(node.input) > 1:
            node.input[0], node.input[1] = node.input[1], node.input[0]
    elif choice == 8 and g.node:
        node = g.node[rng.randrange(len(g.node))]
        values = [o for n in g.node for o in n.output] + [i.name for i in g.input]
        if node.input:
            node.input[rng.randrange(len(node.input))] = rng.choice(values)
    elif choice == 9 and g.output:
        g.output[0].type.tensor_type.elem_type = rng.choice((0, 6, 7, 9, 99))
    elif choice == 10 and g.node:
        for node in g.node:
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value" and attr.HasField("t"):
                        _tensor_mutation(attr.t, rng)
                break
    else:
        for function in m.functions:  # a spike function's body changed
            if function.node:
                victim = function.node[rng.randrange(len(function.node))]
                if victim.op_type in ("Add", "Sub", "Mul", "Div"):
                    victim.op_type = rng.choice(("Add", "Sub", "Mul", "Div"))
                break
    return m


def ir_text(text: str, rng: random.Random) -> str:
    """An IR text with a line dropped, duplicated, or a token changed."""
    lines = text.splitlines()
    choice = rng.randrange(5)
    k = rng.randrange(len(lines))
    if choice == 0:
        del lines[k]
    elif choice == 1:
        lines.insert(k, lines[k])
    elif choice == 2:
        lines[k] = lines[k].replace("f32", rng.choice(("f16", "i64", "f3", "")), 1)
    elif choice == 3:
        numbers = [i for i, c in enumerate(lines[k]) if c.isdigit()]
        if numbers:
            i = rng.choice(numbers)
            lines[k] = lines[k][:i] + rng.choice("0-9x.e") + lines[k][i + 1 :]
    else:
        i = rng.randrange(len(lines[k]) + 1)
        lines[k] = (
            lines[k][:i] + rng.choice(("{", "}", "%", '"', "<", ">", ":", ",")) + lines[k][i:]
        )
    return "\n".join(lines) + "\n"


def _json_value(rng: random.Random) -> object:
    return rng.choice((None, -1, 0, 3.5, "x", [], {}, [None], True, 1 << 40))


def _mutate_json(value: object, rng: random.Random) -> object:
    """One value somewhere in a JSON document replaced by one of another type."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(sorted(value))
        return {**value, key: _mutate_json(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.8:
        i = rng.randrange(len(value))
        return [*value[:i], _mutate_json(value[i], rng), *value[i + 1 :]]
    return _json_value(rng)


def program_folder(files: dict[str, bytes], rng: random.Random) -> dict[str, bytes]:
    """A compiled program folder (file name -> bytes) with one file mutated: the manifest's JSON
    values, the assembly's text, the hardware description's text, or the constants' bytes."""
    import json

    out = dict(files)
    choice = rng.randrange(4)
    if choice == 0:
        manifest = json.loads(files["manifest.json"])
        out["manifest.json"] = json.dumps(_mutate_json(manifest, rng)).encode()
    elif choice == 1:
        out["program.sasm"] = ir_text(files["program.sasm"].decode(), rng).encode()
    elif choice == 2:
        out["hardware.toml"] = ir_text(files["hardware.toml"].decode(), rng).encode()
    else:
        out["constants.npz"] = flip_bytes(files["constants.npz"], rng)
    return out


CLI_VALUES = (
    "",
    "-1",
    "0",
    "1e309",
    "nan",
    "99999999999999999999",
    "ünïcödé",
    "a=b=c",
    "=",
    "{",
    "x.npy",
    "sparse",
    "bogus",
)


def cli_args(args: list[str], flags: list[str], paths: list[str], rng: random.Random) -> list[str]:
    """A command line with one to three edits (mostly one) after its command: a token dropped,
    repeated, swapped with another, a value replaced by an odd one or one of `paths` (files and
    folders of the case), or one of the command's `flags` inserted with or without a value."""
    out = list(args)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        choice = rng.choices(range(5), weights=(1, 1, 1, 4, 3))[0]
        k = rng.randrange(1, len(out)) if len(out) > 1 else len(out)  # the command stays
        if choice == 0 and len(out) > 1:
            del out[k]
        elif choice == 1 and len(out) > 1:
            out.insert(k, out[k])
        elif choice == 2 and len(out) > 2:
            j = rng.randrange(1, len(out))
            out[k], out[j] = out[j], out[k]
        elif choice == 3 and any(not t.startswith("-") for t in out[1:]):
            k = rng.choice([i for i, t in enumerate(out) if i and not t.startswith("-")])
            out[k] = rng.choice((*CLI_VALUES, *paths))
        else:
            inserted = [rng.choice(flags)]
            if rng.random() < 0.7:
                inserted.append(rng.choice((*CLI_VALUES, *paths)))
            out[k:k] = inserted
    return out
