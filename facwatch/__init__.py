"""facwatch: facility monitoring and predictive alerts for residential compounds."""

__version__ = "0.1.0"
