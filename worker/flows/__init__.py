"""Prompt flows (seed 001): the import parser, exact and semantic patches, publishing."""
