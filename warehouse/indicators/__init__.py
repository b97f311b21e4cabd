"""The indicators: one SQL file each (`<ID>.sql`, with a header that defines it), the catalogue
(`catalogue.yaml`, `catalogue.py`), the published table's schema (`schemas/`, `schema.py`) and
the computation of their exact values into mart_indicator_values (`compute.py`)."""
