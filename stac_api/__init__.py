"""The optional STAC API (`stacApi` context key): pgSTAC loading, the loader and API Lambda entry points.

Shipped as its own image (stac_api/Dockerfile: stac-fastapi-pgstac, pypgstac and Mangum from PyPI), apart
from the compression function's: the function knows nothing of the database, and this package nothing of
GDAL. `loading` is the core both the deployed loader and `imagery-archive catalog load` use.
"""
