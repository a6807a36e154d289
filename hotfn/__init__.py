"""hotfn: a self-hosted, Fn-compatible functions platform that keeps containers hot."""

__version__ = "0.1.0"
