"""The Inspect model provider ``steered/<model>``: the only part of ``steering`` that imports Inspect.

``registry`` is the entry point Inspect loads (it registers the provider without importing torch);
``args`` parses and checks the ``-M`` arguments before any weights load; ``model_api`` is the provider.
"""
