"""Seedream jobs on AWS serverless: the shared core every Lambda imports.

Module map (one obvious place for each kind of code):
  settings    the one configuration, read and validated once per cold start
  wiring      builds each function's ``Services`` (only the parts it uses)
  services    ``Services``: what the use cases work with
  usecases/   one module per use case: accept, read, submit, callbacks, ingest (+ finish, shared)
  models/     pydantic models: requests, records (table), views (API), messages (queues), events (bus)
  errors      error values with codes that reach the API caller and the job record
  store       DynamoDB repository: the allowed state moves, each a conditional update
  ledger      the webhook's one conditional update that records a callback
  dynamo      DynamoDB attribute codec and the conditional-update builder both use
  queues      SQS: the submit and ingest queues
  blobs       S3: existence checks, presigned URLs, clean-up
  uploads     S3: streaming upload of outputs and resume checks (ingest only)
  bus         EventBridge events
  fetch       guarded streaming download of provider outputs (ingest only)
  provider_secret   provider keys from Secrets Manager, cached
  tokens      per-job callback tokens (random, stored as a hash, constant-time check)
  providers/  one adapter per provider behind one Protocol, and ``selection`` among them
"""
