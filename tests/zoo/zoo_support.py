"""Import the zoo's scripts (``scripts/zoo_corpus.py``, ``scripts/zoo_identity.py``) by path:
scripts/ is not a package, and these two need neither music21 nor fluidsynth."""

import importlib.util
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load_script(name):
    if str(SCRIPTS) not in sys.path:
        sys.path.append(str(SCRIPTS))  # the scripts import their neighbours by name
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module
