"""Regenerates the committed gRPC code from proto/samenloop/v1/*.proto (`make proto`).

protoc maps the folder proto/ onto the import path samenloop/proto, so the generated
modules import each other as samenloop.proto.samenloop.v1.* and need no fixing up.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
SOURCES = sorted((PROTO_DIR / "samenloop" / "v1").glob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Write the generated modules for every .proto under out_dir; return their paths."""
    from grpc_tools import protoc  # build-time only: grpcio-tools is a test/dev extra

    include = Path(protoc.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-Isamenloop/proto={PROTO_DIR}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
        ] + [f"samenloop/proto/{src.relative_to(PROTO_DIR)}" for src in SOURCES]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed")
        produced = Path(tmp) / "samenloop" / "proto"
        written = []
        for path in sorted(produced.rglob("*.py*")):
            target = out_dir / path.relative_to(produced)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            written.append(target)
        return written


def main() -> None:
    for path in generate(PROTO_DIR):
        print(f"wrote {path.relative_to(PROTO_DIR.parent)}")


if __name__ == "__main__":
    main()
