"""Typed records, real-dataset parsers (one file per dataset) and synthetic worlds (``cmlib.data.worlds``)."""
