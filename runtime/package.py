"""A compiled program on disk: a folder holding

    program.sasm    the instruction stream (text)
    constants.npz   the constant buffers, by name
    hardware.toml   the resolved hardware description the program was compiled for
    manifest.json   target, variant, the description's hash, input and output specs, tool version

Writing is atomic: the folder is built beside its destination and moved into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime.asm import parse_program, print_program
from runtime.errors import ProgramError
from runtime.hardware import Hardware
from runtime.npz import read_npz, write_npz
from runtime.program import Program

FORMAT = "spikec-program/1"
FILES = ("program.sasm", "constants.npz", "hardware.toml", "manifest.json")


@dataclass
class Package:
    program: Program
    constants: Mapping[str, np.ndarray]
    hardware: Hardware
    manifest: dict[str, Any]
    path: Path

    def input_buffers(self) -> dict[str, str]:
        """Model input name -> program buffer."""
        return {spec["name"]: spec["buffer"] for spec in self.manifest["inputs"]}

    def output_buffers(self) -> dict[str, str]:
        return {spec["name"]: spec["buffer"] for spec in self.manifest["outputs"]}


def full_manifest(
    program: Program, hardware: Hardware, manifest: Mapping[str, Any]
) -> dict[str, Any]:
    """The manifest a program folder holds: the compiler's `manifest` with the format, the
    program's target and variant, and the hardware description's name and hash."""
    return {
        "format": FORMAT,
        **manifest,
        "target": program.target,
        "variant": program.variant,
        "hardware": {"file": "hardware.toml", "name": hardware.name, "sha256": hardware.digest()},
    }


def write_package(
    path: Path,
    program: Program,
    constants: Mapping[str, np.ndarray],
    hardware: Hardware,
    manifest: dict[str, Any],
) -> None:
    if path.exists() and not path.is_dir():
        raise ProgramError(f"{path}: exists and is not a folder")
    if path.exists() and any(path.iterdir()) and not (path / "manifest.json").is_file():
        raise ProgramError(
            f"{path}: the folder is not empty and holds no spikec program; refusing to overwrite it"
        )
    parent = path.resolve().parent
    if not parent.is_dir():
        raise ProgramError(f"{path}: the parent folder does not exist")
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=parent))
    try:
        (staging / "program.sasm").write_text(print_program(program), encoding="utf-8")
        write_npz(staging / "constants.npz", constants)
        manifest = {**manifest, "constants_sha256": file_digest(staging / "constants.npz")}
        (staging / "hardware.toml").write_text(hardware.to_toml(), encoding="utf-8")
        full = full_manifest(program, hardware, manifest)
        full["sha256"] = manifest_digest(full)
        (staging / "manifest.json").write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
        if path.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=parent))
            os.replace(path, retired / path.name)
            os.replace(staging, path)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """The SHA-256 of a manifest's content (its own `sha256` field left out), canonical JSON."""
    content = {k: v for k, v in manifest.items() if k != "sha256"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_manifest(manifest: dict[str, Any], program: Program, where: Path) -> None:
    """The manifest's inputs and outputs are buffers of the program, its timesteps a count
    (beyond its digest, checked first: a program folder compiled by another spikec)."""
    timesteps = manifest["timesteps"]
    if not isinstance(timesteps, int) or isinstance(timesteps, bool) or timesteps < 1:
        raise ProgramError(f"{where}: 'timesteps' must be a positive integer, got {timesteps!r}")
    for role in ("inputs", "outputs"):
        specs = manifest[role]
        declared = {b.name for b in (program.inputs if role == "inputs" else program.outputs)}
        if not isinstance(specs, list):
            raise ProgramError(f"{where}: '{role}' must be a list")
        for spec in specs:
            ok = isinstance(spec, dict) and all(
                isinstance(spec.get(k), str) for k in ("name", "buffer")
            )
            if not ok or spec["buffer"] not in declared:
                raise ProgramError(
                    f"{where}: each of '{role}' must name a program {role[:-1]} buffer "
                    f"({', '.join(sorted(declared))}), got {spec!r}"
                )


def load_package(path: Path) -> Package:
    if not path.is_dir():
        raise ProgramError(f"{path}: not a compiled program folder (run `spikec compile` first)")
    missing = [name for name in FILES if not (path / name).is_file()]
    if missing:
        raise ProgramError(f"{path}: not a complete spikec program (missing {', '.join(missing)})")
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ProgramError(f"{path / 'manifest.json'}: not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ProgramError(f"{path / 'manifest.json'}: not a {FORMAT} manifest")
    if manifest.get("sha256") != manifest_digest(manifest):
        raise ProgramError(
            f"{path / 'manifest.json'}: edited after compilation (its sha256 does not match its "
            "content); recompile the model"
        )
    for key in ("inputs", "outputs", "timesteps", "target", "variant"):
        if key not in manifest:
            raise ProgramError(f"{path / 'manifest.json'}: missing '{key}'")
    hardware = Hardware.load(path / "hardware.toml")
    if hardware.digest() != manifest.get("hardware", {}).get("sha256"):
        raise ProgramError(
            f"{path / 'hardware.toml'}: does not match the hash in the manifest (edited after "
            "compilation?); recompile with --config or --set instead"
        )
    sasm = path / "program.sasm"
    program = parse_program(sasm.read_text(encoding="utf-8"), str(sasm))
    _check_manifest(manifest, program, path / "manifest.json")
    if manifest.get("constants_sha256") != file_digest(path / "constants.npz"):
        raise ProgramError(
            f"{path / 'constants.npz'}: does not match the hash in the manifest (changed after "
            "compilation?); recompile the model"
        )
    constants = read_npz(path / "constants.npz")
    return Package(program, constants, hardware, manifest, path)
