"""`fabkube render`: artifacts for the k8s target, then plain manifests plus a kustomization."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from fabkube.backends.k8s.manifests import render_objects
from fabkube.backends.k8s.objects import CHAINCODE_UID
from fabkube.chaincode import JAVA_MAIN, JAVA_OPTS, ignore_build_outputs, language, source_dir
from fabkube.components import IMAGE_BUILDER, peer_core_yaml
from fabkube.generate import Existing, generate, network_toolchain
from fabkube.layout import Layout
from fabkube.ops.lifecycle import package_chaincode
from fabkube.spec import LoadedSpec
from fabkube.toolchain import Progress, Toolchain


@dataclass
class Rendered:
    layout: Layout
    files: dict[str, list[dict]]
    package_ids: dict[str, dict[str, str]]

    def objects(self) -> list[dict]:
        return [obj for objs in self.files.values() for obj in objs]


def render(
    loaded: LoadedSpec,
    workdir: Path,
    tools: Toolchain | None = None,
    progress: Progress = lambda _m: None,
    existing: Existing | None = None,
) -> Rendered:
    tools = (tools or network_toolchain(loaded.spec)).ensure(progress)
    gen = generate(loaded, "k8s", workdir, tools, progress, existing)
    gen.layout.peer_core.parent.mkdir(parents=True, exist_ok=True)
    gen.layout.peer_core.write_text(peer_core_yaml(tools, IMAGE_BUILDER))
    package_ids = {cc.name: package_chaincode(gen.layout, cc) for cc in gen.layout.topo.chaincodes}
    # Chaincode servers that run fabkube's runtime (built from Python source by fabkube, no image of
    # the user's) serve metrics, when something scrapes them.
    spec_dir = loaded.source.parent if loaded.source else None
    python = frozenset(
        cc.name
        for cc in gen.layout.topo.chaincodes
        if loaded.spec.kubernetes.monitoring != "none"
        and cc.image is None
        and language(source_dir(cc.source, spec_dir)) == "python"
    )
    return Rendered(gen.layout, render_objects(gen.layout, package_ids, python), package_ids)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (scripts, properties) as literal blocks, so manifests stay readable."""


def _str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def write_manifests(rendered: Rendered, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, objects in rendered.files.items():
        if not objects:
            continue
        path = out / name
        text = yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False)
        # Secrets hold private keys: such files are the owner's alone, like the crypto dir.
        mode = 0o600 if any(o["kind"] == "Secret" for o in objects) else 0o644
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        path.chmod(mode)  # an existing file keeps its old mode through os.open
        written.append(path)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [p.name for p in written],
    }
    (out / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    written.append(out / "kustomization.yaml")
    return written


DOCKERFILE = """\
# Chaincode-as-a-service image for {name}, written by `fabkube chaincode dockerfile`.
# Build: docker build -t {image} .   (or buildah/kaniko: no Docker on the cluster needed)
FROM {base}
RUN pip install --no-cache-dir fabric-chaincode-python=={shim}
WORKDIR /chaincode
COPY chaincode/ /chaincode/
COPY ccrt/ /opt/fabkube/ccrt/
USER {uid}
EXPOSE 9999
ENV CHAINCODE_SERVER_ADDRESS=0.0.0.0:9999 PYTHONPATH=/opt/fabkube PYTHONUNBUFFERED=1
ENTRYPOINT ["python", "-m", "ccrt", "/chaincode"]
"""


GO_DOCKERFILE = """\
# Chaincode-as-a-service image for {name} (Go), written by `fabkube chaincode dockerfile`.
# Build: docker build -t {image} .   (or buildah/kaniko: no Docker on the cluster needed)
FROM {registry}/library/golang:1.22-bookworm AS build
WORKDIR /src
COPY chaincode/ /src/
RUN CGO_ENABLED=0 go build -trimpath -o /chaincode .
FROM {registry}/library/debian:bookworm-slim
COPY --from=build /chaincode /chaincode
USER {uid}
EXPOSE 9999
ENV CHAINCODE_SERVER_ADDRESS=0.0.0.0:9999
ENTRYPOINT ["/chaincode"]
"""


NODE_DOCKERFILE = """\
# Chaincode-as-a-service image for {name} (JavaScript/TypeScript), written by `fabkube chaincode dockerfile`.
# Build: docker build -t {image} .   (or buildah/kaniko: no Docker on the cluster needed)
FROM {registry}/library/node:20-bookworm-slim AS build
WORKDIR /chaincode
COPY chaincode/ /chaincode/
RUN if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi \\
 && if node -e 'process.exit(require("./package.json").scripts?.build ? 0 : 1)'; then npm run build; fi \\
 && npm prune --omit=dev --no-audit --no-fund
FROM {registry}/library/node:20-bookworm-slim
COPY --from=build /chaincode /chaincode
USER {uid}
EXPOSE 9999
ENV CHAINCODE_SERVER_ADDRESS=0.0.0.0:9999
ENTRYPOINT ["/chaincode/node_modules/.bin/fabric-chaincode-node", "server", "--module-path", "/chaincode"]
"""


JAVA_DOCKERFILE = """\
# Chaincode-as-a-service image for {name} (Java), written by `fabkube chaincode dockerfile`.
# Build: docker build -t {image} .   (or buildah/kaniko: no Docker on the cluster needed)
FROM {registry}/library/maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
COPY chaincode/ /src/
RUN mvn -B -q package -DskipTests \\
 && mvn -B -q dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=/out/lib \\
 && cp -r target/classes /out/classes
FROM {registry}/library/eclipse-temurin:17-jre
COPY --from=build /out /chaincode
USER {uid}
EXPOSE 9999
ENV CHAINCODE_SERVER_ADDRESS=0.0.0.0:9999
ENTRYPOINT ["java", {java_opts}, "-cp", "/chaincode/classes:/chaincode/lib/*", "{java_main}"]
"""

BUILT_DOCKERFILES = {"go": GO_DOCKERFILE, "node": NODE_DOCKERFILE, "java": JAVA_DOCKERFILE}


def write_chaincode_context(
    loaded: LoadedSpec, chaincode: str, out: Path, spec_dir: Path | None, image: str, base: str = "python:3.11-slim"
) -> Path:
    """A Docker build context: Dockerfile, the chaincode directory and fabkube's chaincode runtime."""
    from importlib.metadata import version

    cc = next(c for c in loaded.spec.chaincodes if c.name == chaincode)
    src = source_dir(cc.path, spec_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "chaincode", ignore_errors=True)
    shutil.copytree(src, out / "chaincode", ignore=ignore_build_outputs(src))
    registry = loaded.spec.kubernetes.images.registry.rstrip("/")
    if (recipe := BUILT_DOCKERFILES.get(language(src) or "")) is not None:
        java_opts = ", ".join(f'"{o}"' for o in JAVA_OPTS)
        values = {"name": chaincode, "image": image, "registry": registry, "uid": CHAINCODE_UID}
        text = recipe.format(**values, java_main=JAVA_MAIN, java_opts=java_opts)
        (out / "Dockerfile").write_text(text)
        return out / "Dockerfile"
    # fabkube's chaincode runtime, as a standalone package (it imports nothing else from fabkube).
    shutil.rmtree(out / "ccrt", ignore_errors=True)
    runtime = resources.files("fabkube.chaincode").joinpath("runtime")
    with resources.as_file(runtime) as runtime_dir:
        shutil.copytree(runtime_dir, out / "ccrt", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (out / "Dockerfile").write_text(
        DOCKERFILE.format(
            name=chaincode, image=image, base=base, shim=version("fabric-chaincode-python"), uid=CHAINCODE_UID
        )
    )
    return out / "Dockerfile"
