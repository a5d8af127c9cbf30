"""Modalities: declared once each (see :mod:`stream.modalities.registry`)."""

from stream.modalities.registry import Feature, Modality, WorkerDecl, get, modalities, names, register

__all__ = ["Feature", "Modality", "WorkerDecl", "get", "modalities", "names", "register"]
