"""Procedurally generated, deterministic synthetic worlds: the embedded default data of each paper."""
