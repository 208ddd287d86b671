"""The pipeline that wires formats → gate → store, and the jobs built on it (replay, demo)."""
