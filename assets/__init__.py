"""Data and small artifacts the grader ships (see README.md in this folder)."""
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent
