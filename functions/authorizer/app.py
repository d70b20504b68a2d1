"""API key authorizer: the Lambda REQUEST authorizer of the ``KeyApi`` HTTP API (payload format 2.0, simple
responses). Identity source ``$request.header.Authorization``; API Gateway caches each answer for 300 s per
header value (``ReauthorizeEvery``) and answers 401 itself when the header is missing.

``Authorization: Bearer sk_<key_id>_<secret>`` of a key that exists, matches (constant-time compare of its
SHA-256) and is not revoked → ``{"isAuthorized": true, "context": {"owner", "key_id"}}``: the api function reads
``requestContext.authorizer.lambda.owner`` as the caller. Anything else → ``{"isAuthorized": false}`` (API Gateway
answers 403 ``{"message":"Forbidden"}``).
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerEventV2,
    APIGatewayAuthorizerResponseV2,
)

from seedream.usecases.authorize_key import authorize_key
from seedream.wiring import authorizer_services

logger = Logger()
metrics = Metrics()
svc = authorizer_services()


@logger.inject_lambda_context
@metrics.log_metrics
@event_source(data_class=APIGatewayAuthorizerEventV2)
def lambda_handler(event: APIGatewayAuthorizerEventV2, context) -> dict:
    verdict = authorize_key(svc, event.headers.get("authorization"))  # Powertools: case-insensitive
    if verdict.owner is None:
        metrics.add_metric(name="KeysRefused", unit=MetricUnit.Count, value=1)
        logger.info("API key refused", extra={"reason": verdict.reason, "key_id": verdict.key_id})
        return APIGatewayAuthorizerResponseV2(authorize=False).asdict()
    metrics.add_metric(name="KeysAuthorized", unit=MetricUnit.Count, value=1)
    logger.info("API key authorized", extra={"key_id": verdict.key_id})
    return APIGatewayAuthorizerResponseV2(authorize=True, context={"owner": verdict.owner,
                                                                   "key_id": verdict.key_id}).asdict()
