"""The use cases, one module each. Each takes the function's ``Services`` and our models, and
returns an outcome (a short string the handler turns into an HTTP status or a metric); none
imports a handler or knows about HTTP.

- ``accept``     validate a request, store the job ``queued``, put it on the submit queue
- ``read``       the job as the API shows it
- ``submit``     hand a queued job to its provider(s) with a fresh callback URL (failover)
- ``callbacks``  authenticate a provider callback, record it, put it on the ingest queue
- ``ingest``     store the outputs in S3 (resuming a partial set), finish the job
- ``finish``     the terminal moves every use case shares: fail or succeed, then announce
"""
