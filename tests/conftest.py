"""Test-wide settings: never touch the network, always use fast budgets."""

import os

os.environ["SRLAB_OFFLINE"] = "1"
os.environ["SRLAB_FAST"] = "1"
os.environ.setdefault("SRLAB_DEVICE", "cpu")
