"""Build a chaincode image from the build context `fabkube chaincode dockerfile` writes, with no Docker.

Only the instructions that recipe uses are understood, with the same meaning Docker gives them:
FROM (the python:3.11-slim base maps to our Debian base with `python` on PATH, as that image
has), RUN pip install (run by this machine's pip for the same CPython minor into the image's
site directory), WORKDIR, COPY, USER, EXPOSE, ENV and ENTRYPOINT. Anything else is refused by
name, so a changed recipe cannot silently build something different.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from fabkube.errors import RuntimeFailure
from tooling.images import BaseLayer, Progress
from tooling.oci import Image, layer_from_dir

SITE = "/usr/local/lib/python3.11/dist-packages"  # on the sys.path of Debian bookworm's python3


def _instructions(text: str) -> list[tuple[str, str]]:
    out, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line.rstrip("\\").strip() + " "
        if line.endswith("\\"):
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def build_chaincode_image(context: Path, ref: str, base: BaseLayer, layers_dir: Path, progress: Progress) -> Image:
    if sys.version_info[:2] != (3, 11):  # pip installs wheels for this interpreter into the image's 3.11
        raise RuntimeFailure(
            f"building chaincode images needs Python 3.11 here (the image's), not {sys.version.split()[0]}"
        )
    steps = _instructions((context / "Dockerfile").read_text())
    if not steps or steps[0][0] != "FROM" or "python:3.11" not in steps[0][1]:
        raise RuntimeFailure(f"{context / 'Dockerfile'}: only the Python recipe (FROM python:3.11-slim) is built here")
    image = Image(ref, [base.ensure(progress)], env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"})
    layers_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=layers_dir) as tmp:
        root = Path(tmp) / "root"
        (root / "usr/local/bin").mkdir(parents=True)
        (root / "usr/local/bin/python").symlink_to("/usr/bin/python3")
        workdir = "/"
        for word, arg in steps[1:]:
            if word == "RUN":
                argv = shlex.split(arg)
                if argv[:2] != ["pip", "install"]:
                    raise RuntimeFailure(f"RUN {arg!r}: only `pip install` is supported by the test image builder")
                packages = [a for a in argv[2:] if not a.startswith("--")]
                progress(f"pip install {' '.join(packages)} into the image")
                proc = subprocess.run(
                    [sys.executable, "-m", "pip", "install", "-q", "--target", str(root / SITE.lstrip("/")), *packages],
                    capture_output=True,
                    text=True,
                )
                if proc.returncode != 0:
                    raise RuntimeFailure(f"pip install for the chaincode image failed: {proc.stderr.strip()[-300:]}")
            elif word == "WORKDIR":
                workdir = arg
                (root / arg.lstrip("/")).mkdir(parents=True, exist_ok=True)
            elif word == "COPY":
                src, dst = shlex.split(arg)
                shutil.copytree(context / src, root / dst.lstrip("/"), dirs_exist_ok=True)
            elif word == "USER":
                image.user = arg
            elif word == "EXPOSE":
                image.ports = [int(p.split("/")[0]) for p in arg.split()]
            elif word == "ENV":
                image.env.update(dict(kv.split("=", 1) for kv in shlex.split(arg)))
            elif word == "ENTRYPOINT":
                image.entrypoint = json.loads(arg)
            else:
                raise RuntimeFailure(f"{word}: not supported by the test image builder")
        image.workdir = workdir
        name = ref.rsplit("/", 1)[-1].replace(":", "-")
        image.layers.append(layer_from_dir(root, layers_dir / f"chaincode-{name}.tar"))
    return image
