"""Seedream jobs on AWS serverless: the shared core every Lambda imports.

Module map (one obvious place for each kind of code; ``usecases/`` has its own):
  settings          the one configuration, read and validated once per cold start
  wiring            builds each function's ``Services`` (only the parts it uses; ``overrides`` for tests)
  services          ``Services``: what the use cases work with
  usecases/         one module per use case (accept, submit, ingest, cancel, intake, deliver, live, …)
  models/           pydantic models: requests, records (table), views (API), messages (queues), events (bus),
                    origins (the doors), keys (API keys' answers)
  lifecycle         the job's statuses, the moves between them and their deadlines: pure rules
  errors            error values with codes that reach the API caller and the job record
  clock             time as the table writes it (ISO 8601 UTC, milliseconds, ``Z``)
  payloads          JSON bodies read at the door: size and nesting capped
  doors             the S3 door's layout in the bucket (``requests/``, ``results/``)
  replies           what a job owes its door when it ends (result documents, Step Functions task answers)
  idempotency       Powertools idempotency on the idempotency table; ``Idempotency-Key`` on ``POST /v1/jobs``
  store             DynamoDB repository for jobs: the allowed moves, each a conditional update
  ledger            the webhook's one conditional update that records a callback
  dynamo            DynamoDB attribute codec and the conditional-update builder both use
  keystore          DynamoDB repository for API keys
  apikeys           API keys' form, hashing and check
  connections       the WebSocket API's connections and subscriptions (DynamoDB)
  socket_api        the WebSocket API's management API: a message to one connection
  queues            SQS: the submit, ingest and webhook queues
  blobs             S3: existence checks, presigned URLs, clean-up
  uploads           S3: streaming upload of outputs and resume checks (ingest only)
  bus               EventBridge: the lifecycle events
  fetch             guarded streaming download of provider outputs (ingest only)
  netrules          which hosts a URL may name (source images, outputs, webhook destinations)
  provider_secret   provider keys and webhook secrets from Secrets Manager, cached
  tokens            per-hand-off callback tokens (random, stored as a hash, constant-time check)
  webhook_secret    the deployment's webhook signing keys (Secrets Manager), cached
  webhook_sender    one attempt of a webhook to a caller: destination guard, Standard Webhooks signature, POST
  openapi           the API's OpenAPI 3.1 document, generated from its models
  providers/        one adapter module per provider behind one Protocol (``base``), and ``selection`` among them
"""
