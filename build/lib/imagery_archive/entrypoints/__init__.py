"""The entry points, each building its own `pipeline.Pipeline`: the Lambda function (`lambda_function`), the
large-scene Batch job (`batch_job`), S3 Batch Operations tasks (`batch_operations`, `task_standing`) and the
routing of large scenes to Batch (`large_scene_routing`)."""
