"""veille: a streaming e-reputation pipeline (collectors -> Kafka -> Faust agents -> metrics)."""

__version__ = "0.1.0"
