"""How many texts of the NIR test table the detector gets right (issue 9.2).

    python bench/nir_detector.py [path/to/another/nir.py]

Prints the counts written to BENCHMARKS.md; with a path, measures that version of the
detector instead (e.g. an older one taken from git) for a before/after comparison.
"""

import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.nir_cases import NIR_TEXTS, ORDINARY_TEXTS  # noqa: E402


def load(path):
    if path is None:
        from ep import nir

        return nir
    spec = importlib.util.spec_from_file_location("nir_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv):
    nir = load(argv[1] if len(argv) > 1 else None)
    caught = sum(1 for t in NIR_TEXTS if nir.contains_nir(t))
    passed = sum(1 for t in ORDINARY_TEXTS if not nir.contains_nir(t))
    print(f"NIR written {len(NIR_TEXTS)} ways: {caught} caught, {len(NIR_TEXTS) - caught} missed")
    print(
        f"ordinary texts: {passed} of {len(ORDINARY_TEXTS)} pass (false alarms: "
        f"{len(ORDINARY_TEXTS) - passed})"
    )
    for t in NIR_TEXTS:
        if not nir.contains_nir(t):
            print("  missed:", ascii(t))
    for t in ORDINARY_TEXTS:
        if nir.contains_nir(t):
            print("  false alarm:", ascii(t))


if __name__ == "__main__":
    main(sys.argv)
