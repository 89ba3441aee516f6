"""Weights, model cards and screenshots (package data; see README.md here)."""
