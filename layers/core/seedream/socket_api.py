"""The WebSocket API's management API (``apigatewaymanagementapi``): send a message to one connection.

The endpoint is ``https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`` (``WEBSOCKET_ENDPOINT``; AWS docs,
"Use @connections commands in your backend service"); the call is ``POST /@connections/{connection_id}`` with the
message as the body, and it needs ``execute-api:ManageConnections`` on
``arn:aws:execute-api:{region}:{account}:{api-id}/{stage}/POST/@connections/*``. A connection that is closed answers
410 ``GoneException``.
"""

from __future__ import annotations


class SocketApi:
    """``client`` is a botocore ``apigatewaymanagementapi`` client made with ``endpoint_url`` = the stage's URL."""

    def __init__(self, client):
        self.client = client

    def post(self, connection_id: str, data: bytes) -> bool:
        """Send ``data`` (bytes; API Gateway's limit is 128 KB a frame) to the connection. False when it is gone (410);
        any other error is raised (botocore's ``ClientError``), for SQS to retry the event."""
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=data)
        except self.client.exceptions.GoneException:
            return False
        return True
