"""The release path: `pip wheel .` + `auditwheel repair` give a manylinux wheel that installs into
a fresh virtual environment, imports and embeds there, and whose extension needs nothing beyond
glibc, libstdc++ and the libraries auditwheel bundled into it.

This builds the library once more (scikit-build-core), with the compiler and compiler launcher of
the build the suite runs from: when that is ccache (scripts/test.sh), the objects come from the
cache instead of a second compilation of a few minutes on 2 cores."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CLI, MINILM, ROOT, require

# What a manylinux extension may take from the system (the rest must be bundled).
SYSTEM_LIBRARIES = {"linux-vdso.so.1", "libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1",
                    "ld-linux-x86-64.so.2", "libpthread.so.0", "libdl.so.2", "librt.so.1"}


def run(*args, **kwargs):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({result.returncode}):\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def suite_build():
    """The CMake build folder of the CLI under test, its compiler and its compiler launcher (each
    None when the CLI does not come from a CMake build folder)."""
    build = Path(CLI).resolve().parent
    if not (build / "CMakeCache.txt").exists():
        return None, None, None
    cache = {}
    for line in (build / "CMakeCache.txt").read_text().splitlines():
        key, _, value = line.partition("=")
        cache[key.split(":")[0]] = value
    return build, cache.get("CMAKE_CXX_COMPILER"), cache.get("CMAKE_CXX_COMPILER_LAUNCHER") or None


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with the repaired wheel installed: (its python, the extension's path)."""
    if shutil.which("auditwheel", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("auditwheel is not installed (scripts/setup_python.sh installs it)")
    tmp = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
           "CMAKE_BUILD_PARALLEL_LEVEL": str(len(os.sched_getaffinity(0)))}
    env.pop("PYTHONPATH", None)
    # The suite's compiler and launcher, and a build folder next to the suite's (ccache keys on
    # the compiler and, with a base_dir, on paths relative to the build folder), emptied first.
    build, compiler, launcher = suite_build()
    if compiler:
        env["CXX"] = compiler
    if launcher:
        env["CMAKE_CXX_COMPILER_LAUNCHER"] = launcher
    wheel_build = build.parent / f"{build.name}-wheel" if build else tmp / "build"
    shutil.rmtree(wheel_build, ignore_errors=True)
    # The build tools pinned in scripts/requirements-reference.txt, not a fresh download of each.
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--config-settings", f"build-dir={wheel_build}", "--wheel-dir", tmp / "dist", ROOT,
        env=env)
    shutil.rmtree(wheel_build, ignore_errors=True)
    wheel = next((tmp / "dist").glob("embedrt-*.whl"))
    run(sys.executable, "-m", "auditwheel", "repair", "--wheel-dir", tmp / "repaired", wheel,
        env=env)
    repaired = next((tmp / "repaired").glob("embedrt-*manylinux*.whl"))
    print(f"repaired wheel: {repaired.name}")
    run(sys.executable, "-m", "venv", tmp / "venv", env=env)
    python = tmp / "venv" / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", repaired, env=env)
    found = run(python, "-c", "import embedrt._embedrt as m; print(m.__file__)", cwd=tmp, env=env)
    return python, Path(found.stdout.strip()), env, tmp


def test_wheel_installs_imports_and_embeds(installed):
    python, extension, env, tmp = installed
    assert "site-packages" in str(extension) and ROOT not in extension.parents
    assert (extension.parent / "_embedrt.pyi").exists() and (extension.parent / "py.typed").exists()
    script = ("import embedrt, importlib.metadata, json, sys\n"
              "m = embedrt.Embedder(sys.argv[1])\n"
              "v = m.encode(['A man is eating food.', 'A cat sleeps.'])\n"
              "print(json.dumps({'version': embedrt.__version__,"
              " 'dist': importlib.metadata.version('embedrt'), 'shape': list(v.shape),"
              " 'rows': v.tolist()}))\n")
    out = json.loads(run(python, "-c", script, str(require(MINILM)), cwd=tmp, env=env).stdout)
    cli = run(CLI, "--version").stdout.strip()
    assert cli == f"embedrt {out['version']}" and out["dist"] == out["version"]
    assert out["shape"] == [2, 384]
    reference = run(CLI, "encode", "--model", MINILM, "--format", "jsonl",
                    input="A man is eating food.\nA cat sleeps.\n").stdout.splitlines()
    # The CLI writes float32 in shortest round-trip form: equal as float32, bit for bit.
    assert np.array_equal(np.array(out["rows"], dtype=np.float32),
                          np.array([json.loads(line) for line in reference], dtype=np.float32))


def test_extension_needs_only_glibc_libstdcxx_and_bundled_libraries(installed):
    _, extension, env, _ = installed
    ldd = run("ldd", extension, env=env).stdout
    print(ldd)
    bundled = (extension.parent.parent / "embedrt.libs").resolve()
    for line in ldd.splitlines():
        line = line.strip()
        if not line:
            continue
        name = line.split()[0]
        match = re.search(r"=> (\S+)", line)
        path = Path(match.group(1)).resolve() if match and match.group(1) != "not" else None
        if os.path.basename(name) in SYSTEM_LIBRARIES:
            continue
        assert path is not None, f"unresolved: {line}"
        assert path.parent == bundled, f"{name} comes from the system: {line}"
