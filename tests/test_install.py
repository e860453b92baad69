"""The built package (not the checkout) loads the presets of configs.yaml."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from mrs_tf import configs

ROOT = pathlib.Path(__file__).resolve().parent.parent
PRESETS = ['--configs', 'dmc_proprio', 'director', '--task', 'dmc_hopper_hop']
# Not part of the project: run outputs, caches and earlier builds.
UNTRACKED = shutil.ignore_patterns(
    '.git', 'logdir', 'logs', 'runs', 'build', 'bench_out', '__pycache__',
    '.pytest_cache', '*.egg-info')
LOAD = f"""
import json, pathlib, sys
import mrs_tf
from mrs_tf import configs
config = configs.parse({PRESETS!r})
print(json.dumps({{'package': mrs_tf.__file__, 'config': config.flat()}}))
"""


@pytest.mark.slow
def test_a_non_editable_install_loads_a_preset_outside_the_checkout(
        tmp_path):
    # A copy of the project, so that the build leaves the checkout alone.
    source, target, outside = (
        tmp_path / 'source', tmp_path / 'target', tmp_path / 'outside')
    shutil.copytree(ROOT, source, symlinks=True, ignore=UNTRACKED)
    subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
         '--no-build-isolation', '--target', str(target), str(source)],
        check=True, capture_output=True, timeout=300)
    installed = target / 'mrs_tf' / 'configs.yaml'
    assert installed.is_file() and not installed.is_symlink()
    outside.mkdir()
    result = subprocess.run(
        [sys.executable, '-c', LOAD], cwd=outside, capture_output=True,
        text=True, timeout=120,
        env={**os.environ, 'PYTHONPATH': str(target)})
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert pathlib.Path(loaded['package']).parent == target / 'mrs_tf'
    expected = configs.parse(PRESETS).flat()
    logdir = pathlib.Path(loaded['config'].pop('logdir'))
    expected.pop('logdir')
    assert loaded['config'] == json.loads(json.dumps(expected))
    # The default logdir is under the directory the run starts in.
    assert logdir.parent == outside / 'logdir'
