"""Seedream jobs on AWS serverless: the shared core every Lambda imports.

Module map (one obvious place for each kind of code):
  config      settings read once per cold start from the environment
  errors      error values with codes that reach the API caller and the job record
  models      pydantic models: JobRequest, Job, Output, CompletionNotice, events
  jobs        the use cases: accept, submit, record_callback, ingest
  store       DynamoDB repository with conditional state transitions
  blobs       S3: streaming upload through boto3's transfer manager, presigned URLs
  bus         EventBridge events
  fetch       guarded streaming download of provider outputs
  tokens      per-job callback tokens (random, stored as a hash, constant-time check)
  providers/  one adapter per provider behind one Protocol
"""
