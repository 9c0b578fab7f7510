"""The layout the README promises: the pure modules import neither Faust nor a Kafka client."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT

CLIENTS = ("faust", "kafka", "aiokafka", "mode")


def pure_modules() -> list[str]:
    """The modules the README's Layout section names as pure, as import names."""
    readme = (ROOT / "README.md").read_text()
    sentence = readme[readme.index("The pure modules ("):]
    sentence = sentence[:sentence.index(")")]
    paths = re.findall(r"`([\w/]+?)(?:\.py)?`", sentence)
    return [p.replace("/", ".") for p in paths]


def test_the_pure_modules_import_neither_faust_nor_a_kafka_client() -> None:
    modules = pure_modules()
    assert {"veille.spikes", "veille.rules", "veille.moderation", "veille.deadletters"} <= set(modules)
    # A package's every module (veille.sentiment: english, french, langid...), not its __init__ alone.
    code = (f"import importlib, pkgutil, sys\n"
            f"for m in {modules!r}:\n"
            f"    module = importlib.import_module(m)\n"
            f"    for sub in pkgutil.walk_packages(getattr(module, '__path__', []), m + '.'):\n"
            f"        importlib.import_module(sub.name)\n"
            f"print(sorted({{n.split('.')[0] for n in sys.modules}} & {set(CLIENTS)!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_the_record_contract_loads_without_the_watch_rules_machinery() -> None:
    # Every collector and command imports streams.records at start; the watch rules' RE2 sets and
    # time zones are the workers' (a raw mention's `brands` once pulled them in: 0.18 -> 0.40 s).
    code = ("import sys, streams.records\n"
            "print(sorted({'re2', 'veille.rules', 'veille.prefilter'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
