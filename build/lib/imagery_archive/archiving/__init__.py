"""The job: one object through the GDAL core and the S3 layer (`steps`), what happened to it (`outcomes`),
its scratch space (`scratch`) and what its COG records of the original (`cog_metadata`)."""
