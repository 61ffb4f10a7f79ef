"""The CDK app's constructs: settings, buckets, the compression function, failure handling, the stack."""
