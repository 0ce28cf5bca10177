"""Where steering vectors come from: one file per direction source, each registering itself.

``registry`` holds the sources by name; ``resolver`` builds a spec's vector for a loaded model. A new
source is one file here (a ``Source`` subclass and a ``register_source`` call) added to the imports below.
Importing this package loads no torch: sources import it when they build.
"""

from steering.sources import diff_of_means, sae, sae_ts, vector_file  # noqa: F401  (built-in sources)
from steering.sources.contrast import load_contrast
from steering.sources.registry import Source, get_source, register_source, source_names, unregister_source

__all__ = ["Source", "get_source", "load_contrast", "register_source", "source_names", "unregister_source"]
