"""Build a chaincode image from the build context `fabkube chaincode dockerfile` writes, with no Docker.

Only the instructions those recipes use are understood, with the meaning Docker gives them:
FROM (with AS for build stages), RUN, WORKDIR, COPY (also --from=STAGE), USER, EXPOSE, ENV and
ENTRYPOINT. Anything else is refused by name, so a changed recipe cannot silently build
something different.

Images are stood in for by what this machine has, in the official images' layout:
- python:3.11-slim, debian:bookworm-slim and eclipse-temurin:17-jre are our Debian bookworm base
  (it holds python3 and OpenJDK 17); node:20-bookworm-slim is that base with this machine's
  `node` in /usr/local/bin, as the node image has it.
- A build stage (golang, node, maven) runs its RUN lines with `sh -c` chrooted into the stage's
  own root, with this machine's /usr (Go in /usr/local/go, npm, Maven), /etc and /root (module
  and package caches) bind-mounted in a private mount namespace: the recipe's commands, as
  written, with the toolchains the official build images carry.
- In the final stage of the Python recipe, RUN pip install runs this machine's pip for the same
  CPython minor into the image's site directory.
"""

from __future__ import annotations

import json
import os
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
# Final-stage images -> what goes on top of the Debian base (path in image -> file here).
RUNTIME_BASES: dict[str, dict[str, str]] = {
    "python:3.11-slim": {},
    "debian:bookworm-slim": {},
    "eclipse-temurin:17-jre": {},
    "node:20-bookworm-slim": {"usr/local/bin/node": "node"},
}
BUILD_IMAGES = ("golang:", "node:", "maven:")
DEVICES = ("null", "zero", "random", "urandom", "tty")
BUILD_PATH = "/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


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


def _stages(steps: list[tuple[str, str]]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(image, stage name, instructions) per FROM."""
    stages: list[tuple[str, str, list[tuple[str, str]]]] = []
    for word, arg in steps:
        if word == "FROM":
            image, _, name = arg.partition(" AS ")
            stages.append((image.strip(), name.strip(), []))
        elif not stages:
            raise RuntimeFailure(f"{word} before FROM")
        else:
            stages[-1][2].append((word, arg))
    return stages


def _short(image: str) -> str:
    return image.rsplit("/", 1)[-1]  # REGISTRY/library/node:20-bookworm-slim -> node:20-bookworm-slim


def _chroot_run(root: Path, workdir: str, command: str, env: dict[str, str], progress: Progress) -> None:
    """Run one RUN line in the stage's root, with the build toolchains of this machine mounted in."""
    progress(f"RUN {command[:90]}")
    r = shlex.quote(str(root))
    # The toolchains (/usr) and settings (/etc) read-only; the caches (/root) and /tmp writable;
    # of /dev only the character devices builds use. All in a private mount namespace: nothing
    # outlives the command, and --kill-child ends it with its parent.
    mounts = "".join(
        f"mkdir -p {r}/{d} && mount --bind /{d} {r}/{d} && mount -o remount,bind,ro {r}/{d} && " for d in ("usr", "etc")
    )
    mounts += "".join(f"mkdir -p {r}/{d} && mount --bind /{d} {r}/{d} && " for d in ("root", "tmp"))
    mounts += f"mkdir -p {r}/dev && mount -t tmpfs -o size=1m tmpfs {r}/dev && "
    mounts += "".join(f"touch {r}/dev/{n} && mount --bind /dev/{n} {r}/dev/{n} && " for n in DEVICES)
    links = "".join(
        f"ln -sfn usr/{d} {r}/{d} && " for d in ("bin", "lib", "lib64", "sbin") if Path(f"/{d}").is_symlink()
    )
    inner = f"cd {shlex.quote(workdir)} && {command}"
    proc_fs = f"mkdir -p {r}/proc && mount -t proc proc {r}/proc && "
    script = f"{mounts}{links}{proc_fs}exec chroot {r} /bin/sh -ec {shlex.quote(inner)}"
    stage_env = {k: v for k, v in os.environ.items() if k.startswith(("GO", "NPM_", "MAVEN"))}
    stage_env |= {"PATH": BUILD_PATH, "HOME": "/root", "LANG": "C.UTF-8", **env}
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--fork", "--kill-child", "sh", "-ec", script],
        env=stage_env,
        capture_output=True,
        text=True,
    )
    for d in ("bin", "lib", "lib64", "sbin"):
        if (root / d).is_symlink():
            (root / d).unlink()
    if proc.returncode != 0:
        raise RuntimeFailure(
            f"RUN {command[:80]}: exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-400:]}"
        )


GLIBC = ("libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so", "ld-linux")


def _shared_libraries(binary: Path) -> list[Path]:
    """The libraries `binary` links, but glibc's (the base image has the same release's)."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
    found = [Path(line.split("=>")[1].split("(")[0].strip()) for line in out.splitlines() if "=> /" in line]
    return [p for p in found if not p.name.startswith(GLIBC)]


def _pip_install(root: Path, argv: list[str], progress: Progress) -> None:
    if sys.version_info[:2] != (3, 11):  # pip installs wheels for this interpreter into the image's 3.11
        raise RuntimeFailure(f"pip install into the image needs Python 3.11 here, not {sys.version.split()[0]}")
    packages = [a for a in argv[2:] if not a.startswith("--")]
    progress(f"pip install {' '.join(packages)} into the image")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(root / SITE.lstrip("/")), *packages],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeFailure(f"pip install for the chaincode image failed: {proc.stderr.strip()[-300:]}")


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


class _Stage:
    def __init__(self, image: str, root: Path, build: bool):
        self.image, self.root, self.build = image, root, build
        self.workdir, self.env = "/", {}
        self.out = Image("", [], env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"})

    def path(self, in_image: str) -> Path:
        return self.root / in_image.lstrip("/")

    def apply(self, word: str, arg: str, context: Path, stages: dict[str, _Stage], progress: Progress) -> None:
        if word == "RUN":
            argv = shlex.split(arg)
            if not self.build and argv[:2] == ["pip", "install"]:
                _pip_install(self.root, argv, progress)
            elif self.build:
                _chroot_run(self.root, self.workdir, arg, self.env, progress)
            else:
                raise RuntimeFailure(f"RUN {arg!r}: only `pip install` runs in a final stage here")
        elif word == "WORKDIR":
            self.workdir = arg
            self.path(arg).mkdir(parents=True, exist_ok=True)
        elif word == "COPY":
            parts = shlex.split(arg)
            origin = context
            if parts[0].startswith("--from="):
                origin = stages[parts.pop(0).removeprefix("--from=")].root
            src, dst = parts
            _copy(origin / src.lstrip("/"), self.path(dst))
        elif word == "USER":
            self.out.user = arg
        elif word == "EXPOSE":
            self.out.ports = [int(p.split("/")[0]) for p in arg.split()]
        elif word == "ENV":
            values = dict(kv.split("=", 1) for kv in shlex.split(arg))
            self.env.update(values)
            self.out.env.update(values)
        elif word == "ENTRYPOINT":
            self.out.entrypoint = json.loads(arg)
        else:
            raise RuntimeFailure(f"{word}: not supported by the test image builder")


def build_chaincode_image(context: Path, ref: str, base: BaseLayer, layers_dir: Path, progress: Progress) -> Image:
    stages_list = _stages(_instructions((context / "Dockerfile").read_text()))
    if not stages_list:
        raise RuntimeFailure(f"{context / 'Dockerfile'}: no FROM")
    final_image = _short(stages_list[-1][0])
    if final_image not in RUNTIME_BASES:
        raise RuntimeFailure(f"FROM {final_image}: the test image builder stands in for {', '.join(RUNTIME_BASES)}")
    layers_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=layers_dir) as tmp:
        stages: dict[str, _Stage] = {}
        stage = None
        for i, (image, name, steps) in enumerate(stages_list):
            last = i == len(stages_list) - 1
            if not last and not _short(image).startswith(BUILD_IMAGES):
                raise RuntimeFailure(f"FROM {image} AS {name}: build stages run on golang, node or maven here")
            stage = _Stage(image, Path(tmp) / f"stage{i}", build=not last)
            stage.root.mkdir()
            if last:
                (stage.root / "usr/local/bin").mkdir(parents=True)
                (stage.root / "usr/local/bin/python").symlink_to("/usr/bin/python3")
                for rel, tool in RUNTIME_BASES[final_image].items():
                    binary = Path(shutil.which(tool) or tool).resolve()
                    _copy(binary, stage.path(rel))
                    for lib in _shared_libraries(binary):  # e.g. Debian's node needs libnode, libuv
                        # Under the directory's real path: /lib is a symlink to usr/lib in the base.
                        _copy(lib, stage.path(str(lib.parent.resolve() / lib.name)))
            for word, arg in steps:
                stage.apply(word, arg, context, stages, progress)
            stages[name or str(i)] = stage
        image = stage.out
        image.ref, image.workdir = ref, stage.workdir
        name = ref.rsplit("/", 1)[-1].replace(":", "-")
        image.layers = [base.ensure(progress), layer_from_dir(stage.root, layers_dir / f"chaincode-{name}.tar")]
    return image
