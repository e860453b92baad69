"""The layers the README describes, read from the import statements of
every Python file (ast, nothing imported): programs (train.py, scripts/)
on mrs_tf on embodied, and no import running back up or across. Tests
run the programs in subprocesses and import only the library."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / 'scripts').glob('*.py'))
SCRIPT_NAMES = {path.stem for path in SCRIPTS}


def imported_modules(path):
    """The absolute module names a file imports (relative imports stay
    inside their package and are left out)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module)
    return names


def top_level(names):
    return {name.split('.')[0] for name in names}


def python_files(folder):
    return sorted((ROOT / folder).rglob('*.py'))


def test_the_checks_see_every_layer():
    assert len(python_files('embodied')) > 10
    assert len(python_files('mrs_tf')) > 10
    assert {'bench', 'gpu_check', 'analyze', 'plot'} <= SCRIPT_NAMES
    assert 'mrs_tf' in top_level(imported_modules(ROOT / 'train.py'))


@pytest.mark.parametrize('path', python_files('embodied'), ids=str)
def test_the_runtime_imports_nothing_of_mrs(path):
    assert 'mrs_tf' not in top_level(imported_modules(path))


@pytest.mark.parametrize('path', python_files('mrs_tf'), ids=str)
def test_the_library_imports_no_program(path):
    programs = top_level(imported_modules(path)) & (SCRIPT_NAMES | {
        'train', 'scripts'})
    assert not programs, f'{path.name} imports {sorted(programs)}'


@pytest.mark.parametrize('path', SCRIPTS, ids=lambda p: p.name)
def test_no_script_imports_another(path):
    others = top_level(imported_modules(path)) & (
        SCRIPT_NAMES | {'train', 'scripts'})
    assert not others, f'{path.name} imports {sorted(others)}'


@pytest.mark.parametrize(
    'path', sorted((ROOT / 'tests').glob('*.py')), ids=lambda p: p.name)
def test_no_test_imports_a_script(path):
    scripts = top_level(imported_modules(path)) & (SCRIPT_NAMES | {'scripts'})
    assert not scripts, f'{path.name} imports {sorted(scripts)}'
