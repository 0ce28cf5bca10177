"""Activation steering for Hugging Face causal LMs, independent of Inspect.

Kept import-light: the Inspect registry entry point imports this package.
"""
