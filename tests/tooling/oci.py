"""OCI image archives written from directories, for `ctr images import` (no Docker, no registry).

An image is a list of layer tarballs (uncompressed; digests are their sha256, so an unchanged
directory gives the same layer and containerd stores a shared base once) plus an image config.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fabkube.errors import RuntimeFailure
from fabkube.toolchain import sha256_file

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass
class Layer:
    path: Path
    digest: str
    size: int


@dataclass
class Image:
    ref: str  # e.g. docker.io/hyperledger/fabric-peer:2.5.9
    layers: list[Layer]
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    user: str = ""
    workdir: str = ""
    ports: list[int] = field(default_factory=list)


def layer_from_dir(src: Path, out: Path) -> Layer:
    """A reproducible tar of src (sorted names, mtime 0, numeric owners), as an OCI layer."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    proc = subprocess.run(
        [
            "tar",
            "--sort=name",
            "--mtime=@0",
            "--numeric-owner",
            "--xattrs",
            "-C",
            str(src),
            "-cf",
            str(partial),
            ".",
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeFailure(f"tar of {src} failed: {proc.stderr.strip()[-300:]}")
    partial.rename(out)
    return Layer(out, sha256_file(out), out.stat().st_size)


def known_layer(path: Path) -> Layer:
    return Layer(path, sha256_file(path), path.stat().st_size)


def _config(image: Image) -> dict:
    cfg: dict = {"Env": [f"{k}={v}" for k, v in image.env.items()]}
    if image.entrypoint is not None:
        cfg["Entrypoint"] = image.entrypoint
    if image.cmd is not None:
        cfg["Cmd"] = image.cmd
    if image.user:
        cfg["User"] = image.user
    if image.workdir:
        cfg["WorkingDir"] = image.workdir
    if image.ports:
        cfg["ExposedPorts"] = {f"{p}/tcp": {} for p in image.ports}
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{la.digest}" for la in image.layers]},
    }


def write_archive(images: list[Image], out: Path) -> Path:
    """One OCI image-layout tar holding the images (shared layers once), named for containerd."""
    out.parent.mkdir(parents=True, exist_ok=True)
    manifests, blobs = [], {}
    for image in images:
        config = json.dumps(_config(image), sort_keys=True).encode()
        config_digest = hashlib.sha256(config).hexdigest()
        blobs[config_digest] = config
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": f"sha256:{config_digest}", "size": len(config)},
                "layers": [
                    {"mediaType": OCI_LAYER, "digest": f"sha256:{la.digest}", "size": la.size} for la in image.layers
                ],
            },
            sort_keys=True,
        ).encode()
        manifest_digest = hashlib.sha256(manifest).hexdigest()
        blobs[manifest_digest] = manifest
        manifests.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": f"sha256:{manifest_digest}",
                "size": len(manifest),
                "annotations": {
                    "io.containerd.image.name": image.ref,
                    "org.opencontainers.image.ref.name": image.ref.rsplit(":", 1)[1],
                },
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        )
    index = {m["annotations"]["io.containerd.image.name"]: m["digest"] for m in manifests}
    if out.exists() and archive_index(out) == index:
        return out  # the same images: keep the archive (and let nodes skip what they hold)
    layers = {la.digest: la.path for image in images for la in image.layers}
    partial = out.with_suffix(".partial")
    with tarfile.open(partial, "w") as tar, tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp)
        for name, data in [
            ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
            ("index.json", json.dumps({"schemaVersion": 2, "manifests": manifests}).encode()),
            *((f"blobs/sha256/{d}", b) for d, b in blobs.items()),
        ]:
            f = small / name.replace("/", "_")
            f.write_bytes(data)
            tar.add(f, name)
        for digest, path in layers.items():
            tar.add(path, f"blobs/sha256/{digest}")
    partial.rename(out)
    out.with_suffix(".index.json").write_text(json.dumps(index, indent=1))
    return out


def archive_index(archive: Path) -> dict[str, str]:
    """Image name -> manifest digest of an archive write_archive made ({} if unknown)."""
    try:
        return json.loads(archive.with_suffix(".index.json").read_text())
    except (OSError, ValueError):
        return {}
