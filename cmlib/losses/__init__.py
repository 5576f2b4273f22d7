"""Losses as functions and modules over tensors; they never import models."""
