"""Bundled content: questionnaires, example workshops and translation catalogs."""

from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parent
