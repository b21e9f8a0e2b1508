"""Chaincode that fabkube ships, and how a chaincode directory is found, recognised and built.

A directory is recognised by the file its language's tools start from: chaincode.py is Python
(served by fabkube's runtime), go.mod Go (built with `go build`, the user's own `main`),
package.json JavaScript or TypeScript (`npm` install and build script, served by fabric-shim's
`fabric-chaincode-node server`), pom.xml Java (built with Maven, served by fabric-chaincode-java's
ContractRouter, which serves when CHAINCODE_SERVER_ADDRESS is set). Every server reads the
environment in fabkube.chaincode.contract. Builds are cached by the digest of the source.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Literal

from fabkube.runlog import run_logged

BUILTIN_DIR = Path(__file__).parent
BUILTINS = {
    "abstore": BUILTIN_DIR / "abstore",
    "asset-transfer-basic": BUILTIN_DIR / "asset-transfer-basic",
    "asset-transfer-basic-go": BUILTIN_DIR / "builtin_go" / "asset-transfer-basic",
}

Language = Literal["python", "go", "node", "java"]
# The file that marks each language, in the order they are looked for.
MARKERS: dict[str, Language] = {
    "go.mod": "go",
    "chaincode.py": "python",
    "package.json": "node",
    "pom.xml": "java",
}
GRADLE_FILES = ("build.gradle", "build.gradle.kts")
# Build outputs and installed dependencies at the top of a chaincode directory: neither part of the
# source digest nor copied to a build (deeper folders of these names are source, e.g. a Go package
# internal/build). __pycache__ is never source, at any depth.
NOT_SOURCE = {"node_modules", "target", ".gradle", ".git"}
BUILT_BY_SCRIPT = {"dist", "build"}  # only where package.json has a build script that makes them
JAVA_MAIN = "org.hyperledger.fabric.contract.ContractRouter"
# Small heap and metaspace: the server fits the chaincode container's default 256Mi limit.
JAVA_OPTS = ("-Xms32m", "-Xmx128m", "-XX:MaxMetaspaceSize=128m", "-XX:+UseSerialGC")


def source_dir(path: str, spec_dir: Path | None = None) -> Path:
    """Resolve a chaincode `path:` from the spec to its directory."""
    if path.startswith("builtin:"):
        return BUILTINS[path.removeprefix("builtin:")]
    p = Path(path).expanduser()
    if not p.is_absolute() and spec_dir is not None:
        p = spec_dir / p
    return p.resolve()


def language(directory: Path) -> Language | None:
    """The language whose marker file the directory holds first (see MARKERS); None for none."""
    return next((lang for marker, lang in MARKERS.items() if (directory / marker).is_file()), None)


def unsupported_reason(directory: Path) -> str | None:
    """Why a directory cannot be served, or None when it can."""
    if language(directory) is None and any((directory / g).is_file() for g in GRADLE_FILES):
        return (
            "is a Gradle build; fabkube builds Java chaincode with Maven (Gradle itself cannot be fetched "
            "here): add a pom.xml with org.hyperledger.fabric-chaincode-java:fabric-chaincode-shim"
        )
    if language(directory) is None:
        return "holds none of " + ", ".join(f"{m} ({lang})" for m, lang in MARKERS.items())
    return None


def source_digest(directory: Path) -> str:
    """A digest of every file in the directory (names and contents), to cache builds by source."""
    h = hashlib.sha256()
    for path in sorted(_source_files(directory)):
        h.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _outputs(directory: Path) -> set[str]:
    """Top-level names in the directory that its build makes rather than its author writes."""
    package = directory / "package.json"
    try:
        scripted = package.is_file() and "build" in json.loads(package.read_text()).get("scripts", {})
    except (ValueError, AttributeError):
        scripted = False
    return NOT_SOURCE | (BUILT_BY_SCRIPT if scripted else set())


def _is_source(directory: Path, path: Path, outputs: set[str]) -> bool:
    parts = path.relative_to(directory).parts
    return parts[0] not in outputs and "__pycache__" not in parts


def _source_files(directory: Path) -> list[Path]:
    outputs = _outputs(directory)
    return [p for p in directory.rglob("*") if p.is_file() and _is_source(directory, p, outputs)]


def ignore_build_outputs(top: Path):
    """A copytree `ignore` that leaves out build outputs at the top of `top`, and __pycache__."""
    top, outputs = Path(top), _outputs(Path(top))

    def ignore(d: str, names: list[str]) -> list[str]:
        at_top = Path(d) == top
        return [n for n in names if n == "__pycache__" or n.endswith(".pyc") or (at_top and n in outputs)]

    return ignore


def build_dir(cache: Path, lang: str, directory: Path) -> Path:
    """Where the build of this source lives (once per language and source digest)."""
    return cache / f"chaincode-{lang}" / source_digest(directory)


def go_binary(cache: Path, directory: Path) -> Path:
    """Where the build of this Go chaincode source lives (built once per source digest)."""
    return build_dir(cache, "go", directory) / "chaincode"


def server_command(cache: Path, directory: Path) -> list[str]:
    """The command that serves a chaincode directory (after `build`), configured by its environment."""
    lang = language(directory)
    out = build_dir(cache, lang, directory) if lang else directory
    if lang == "go":
        return [str(out / "chaincode")]
    if lang == "node":
        src = out / "src"
        return [str(src / "node_modules" / ".bin" / "fabric-chaincode-node"), "server", "--module-path", str(src)]
    if lang == "java":
        classpath = (out / "classpath.txt").read_text().strip() if (out / "classpath.txt").exists() else ""
        cp = f"{out / 'src' / 'target' / 'classes'}:{classpath}"
        return ["java", *JAVA_OPTS, "-cp", cp, JAVA_MAIN]
    return [sys.executable, "-m", "fabkube.chaincode.runtime", str(directory)]


def _copy_source(directory: Path, work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(directory, work, ignore=ignore_build_outputs(directory))


def build(tools, directory: Path, log: Path) -> Path | None:
    """Build a chaincode directory unless this source was built; Python needs no build (None)."""
    lang = language(directory)
    if lang == "go":
        return build_go(tools, directory, log)
    if lang not in ("node", "java"):
        return None
    out = build_dir(tools.root, lang, directory)
    if (out / "BUILT").is_file():
        return out
    _copy_source(directory, out / "src")
    if lang == "node":
        _build_node(out / "src", log)
    else:
        _build_java(out / "src", out / "classpath.txt", log)
    (out / "BUILT").write_text(source_digest(directory) + "\n")
    return out


def _build_node(src: Path, log: Path) -> None:
    """npm's install (ci when there is a lock file), then the package's build script if it has one
    (TypeScript compiles to what package.json's main names)."""
    npm = shutil.which("npm") or "npm"
    quiet = ["--no-audit", "--no-fund", "--loglevel=error"]
    install = "ci" if (src / "package-lock.json").is_file() else "install"
    run_logged([npm, install, *quiet], log, "install the chaincode's npm packages", cwd=src)
    scripts = json.loads((src / "package.json").read_text()).get("scripts", {})
    if "build" in scripts:
        run_logged([npm, "run", "build"], log, "build the chaincode (npm run build)", cwd=src)


def _build_java(src: Path, classpath: Path, log: Path) -> None:
    """Maven package, then the runtime class path of its dependencies (fabric-chaincode-shim's)."""
    mvn = [shutil.which("mvn") or "mvn", "-B", "-q"]
    run_logged([*mvn, "package", "-DskipTests"], log, "build the chaincode (mvn package)", cwd=src)
    cp_args = [f"-Dmdep.outputFile={classpath}", "-Dmdep.includeScope=runtime"]
    run_logged([*mvn, "dependency:build-classpath", *cp_args], log, "list the chaincode's class path", cwd=src)


def build_go(tools, directory: Path, log: Path) -> Path:
    """Build a Go chaincode (in a copy: `go build` may update go.sum) unless this source was built."""
    out = go_binary(tools.root, directory)
    if out.is_file():
        return out
    work = out.parent / "src"
    _copy_source(directory, work)
    tools.go_build_binary(work, out.with_suffix(".partial"), log)
    out.with_suffix(".partial").rename(out)
    return out
