from ingest.tests.indicators.city import city

__all__ = ["city"]
