#!/usr/bin/env python3
"""The bindings as a user installs them: packed and installed, never imported from the checkout.

    packages_test.py node    npm pack examples/node, npm install the tarball into a fresh project, call
                             qc_abi_version through require('quantclaw'); stage examples/openclaw with that
                             tarball installed and check `npm pack` bundles the binding and koffi
    packages_test.py python  pip install a copy of examples/python into a fresh venv
                             (--system-site-packages --no-build-isolation --no-index: Debian's setuptools
                             builds it, nothing is downloaded), call qc_abi_version through `import quantclaw`

Exit 0: passed; 1: failed; 77: skipped (node: koffi is neither in npm's cache nor reachable).
Nothing is written into the source tree.
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile

SKIP = 77
NPM_FLAGS = ["--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error", "--prefer-offline"]


class Failure(Exception):
    pass


def run(command, *, cwd=None, env=None, timeout=120):
    result = subprocess.run(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise Failure(f"exit {result.returncode}: {' '.join(map(str, command))}\n{result.stdout[-2000:]}"
                      f"\n{result.stderr[-3000:]}")
    return result.stdout


def check_abi_version(text, where):
    version = int(text.strip().splitlines()[-1])
    if version >> 16 != 1 or version & 0xFFFF < 1:
        raise Failure(f"{where}: qc_abi_version {version >> 16}.{version & 0xFFFF}, expected 1.1 or later")
    print(f"{where}: qc_abi_version {version >> 16}.{version & 0xFFFF}")


def registry_reachable(npm):
    return subprocess.run([npm, "ping", "--fetch-timeout=10000", "--fetch-retries=0"], capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=60).returncode == 0


def test_node(source, library, work, npm, node):
    binding_source = source / "examples" / "node"
    plugin_source = source / "examples" / "openclaw"
    packs = work / "packs"
    packs.mkdir()
    name = run([npm, "pack", "--loglevel=error", "--pack-destination", packs], cwd=binding_source).split()[-1]
    tarball = packs / name
    with tarfile.open(tarball) as archive:
        members = sorted(archive.getnames())
    if members != ["package/LICENSE", "package/package.json", "package/quantclaw.js"]:
        raise Failure(f"{name} holds {members}")

    # A user's project: the binding from its tarball, koffi from npm (its cache when it has it).
    project = work / "project"
    project.mkdir()
    (project / "package.json").write_text('{"name": "user-project", "private": true}\n')
    try:
        run([npm, "install", *NPM_FLAGS, tarball], cwd=project, timeout=300)
    except Failure:
        if not registry_reachable(npm):
            print("SKIP: koffi is not in npm's cache and the registry cannot be reached")
            return SKIP
        raise
    script = "console.log(require('quantclaw').abiVersion(process.argv[1]))"
    check_abi_version(run([node, "-e", script, library], cwd=project), f"require('quantclaw') from {name}")

    # The OpenClaw plugin's package: the binding tarball installed into a copy of its files, then packed.
    plugin = work / "plugin"
    plugin.mkdir()
    manifest = json.loads((plugin_source / "package.json").read_text())
    for entry in [*manifest["files"], "package.json", "LICENSE"]:
        shutil.copy2(plugin_source / entry, plugin / entry)
    run([npm, "install", "--no-save", *NPM_FLAGS, tarball], cwd=plugin, timeout=300)
    packed = json.loads(run([npm, "pack", "--dry-run", "--json", "--loglevel=error"], cwd=plugin))[0]
    paths = {entry["path"] for entry in packed["files"]}
    wanted = {"LICENSE", "package.json", "index.js", "openclaw.plugin.json", "node_modules/quantclaw/quantclaw.js",
              "node_modules/quantclaw/package.json", "node_modules/koffi/package.json"}
    if not wanted <= paths or any(path.startswith("test/") for path in paths):
        raise Failure(f"{packed['filename']}: missing {sorted(wanted - paths)}, holds "
                      f"{sorted(p for p in paths if not p.startswith('node_modules/koffi/'))}")
    print(f"{packed['filename']}: bundles {', '.join(packed['bundled'])}; {len(paths)} files, "
          f"{packed['size'] / 1e6:.1f} MB packed")
    # The plugin resolves `quantclaw` from its own node_modules: what OpenClaw loads after installing it.
    script = ("const plugin = (await import(process.argv[1])).default;"
              "if (plugin.id !== 'quantclaw' || typeof plugin.register !== 'function') throw new Error('no plugin');"
              "const { createRequire } = await import('node:module');"
              "console.log(createRequire(process.argv[1])('quantclaw').abiVersion(process.argv[2]));")
    check_abi_version(run([node, "--input-type=module", "-e", script, "--", (plugin / "index.js").as_uri(), library],
                          cwd=work), f"{packed['filename']} staged")
    return 0


def test_python(source, library, work, python):
    # A copy, so pip's in-tree build (build/, *.egg-info) lands in the temporary folder.
    copy = work / "python"
    shutil.copytree(source / "examples" / "python", copy,
                    ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"))
    venv = work / "venv"
    run([python, "-m", "venv", "--system-site-packages", venv])
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # no site or user pip config: exactly the flags below
    run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", copy], env=env, timeout=300)
    script = ("import importlib.metadata, sys, quantclaw\n"
              "assert quantclaw.__file__.startswith(sys.prefix), quantclaw.__file__\n"
              "assert importlib.metadata.version('quantclaw') == '1.1.0'\n"
              "assert importlib.metadata.metadata('quantclaw')['License'] == 'Apache-2.0'\n"
              "print(quantclaw.load(sys.argv[1]).qc_abi_version())\n")
    check_abi_version(run([venv / "bin" / "python", "-I", "-c", script, library], cwd=work, env=env),
                      "import quantclaw (pip-installed into a venv)")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=["node", "python"])
    parser.add_argument("--library", required=True, help="libquantclaw.so.1")
    parser.add_argument("--source-dir", required=True, help="the repository root")
    parser.add_argument("--npm", default=shutil.which("npm") or "npm")
    parser.add_argument("--node", default=shutil.which("node") or "node")
    parser.add_argument("--python", default=sys.executable, help="the Python the venv is made from")
    args = parser.parse_args()
    source = pathlib.Path(args.source_dir).resolve()
    library = str(pathlib.Path(args.library).resolve())
    with tempfile.TemporaryDirectory(prefix=f"quantclaw-packages-{args.which}-") as temporary:
        work = pathlib.Path(temporary)
        try:
            if args.which == "node":
                return test_node(source, library, work, args.npm, args.node)
            return test_python(source, library, work, args.python)
        except (Failure, subprocess.TimeoutExpired) as error:
            print(f"FAIL: {error}")
            return 1


if __name__ == "__main__":
    sys.exit(main())
