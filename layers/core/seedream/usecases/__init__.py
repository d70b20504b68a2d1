"""The use cases, one module each. Each takes the function's ``Services`` and our models, and
returns an outcome (a short string the handler turns into an HTTP status or a metric, or a model it
answers with); none imports a handler or knows about HTTP.

- ``accept``         validate a request, store the job ``queued``, put it on the submit queue
- ``dry_run``        hold a request to every rule ``accept`` does and say what it would be given; create nothing
- ``intake``         the S3 and EventBridge doors: read the arrival, ``accept`` it, or refuse it to its door
- ``read``           the job as the API shows it (its owner's only)
- ``listing``        a caller's jobs, newest first, a page at a time
- ``model_list``     every model at every provider: limits and price (``GET /v1/models``)
- ``cancel``         move an open job to ``cancelled`` and announce it
- ``submit``         hand a queued job to its provider(s) with a fresh callback URL (failover, 429s waited out)
- ``provider_cancel`` stop a cancelled job's task at its provider, where the provider has a cancel call (fal, Replicate)
- ``generate``       a synchronous provider's job (ModelArk): hold its stream, store each image as it arrives, hand the
                     completion to ingest
- ``callbacks``      authenticate a provider callback, record it once, put it on the ingest queue
- ``ingest``         store the outputs in S3 (resuming a partial set), finish the job
- ``reconcile``      the scheduled sweep over open jobs past their deadline: read, queue again or end them
- ``finish``         the terminal moves every use case shares: fail, discard outputs, announce the end once
- ``progress``       the non-terminal events (``Job Queued``, ``Job Submitted``), best effort
- ``deliver``        a job's lifecycle to its ``webhook``: signed messages, retried on the Standard Webhooks schedule
- ``live``           the WebSocket API: connect, subscribe, disconnect, push each event to its subscribers
- ``create_key``, ``list_keys``, ``revoke_key``   an IAM caller's API keys (``/v1/keys``)
- ``authorize_key``  the key authorizer's check of ``Authorization: Bearer sk_…``
"""
