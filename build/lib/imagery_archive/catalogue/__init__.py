"""The catalogue: a STAC Item and a thumbnail beside every COG (`item`, `publishing`), from the scene's facts
(`scene_facts`), footprint (`footprint`) and acquisition time (`acquisition_time`)."""
