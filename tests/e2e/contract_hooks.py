"""Schemathesis hooks of the REST contract test: the probe's offer is SDP, sent as text."""

import schemathesis


@schemathesis.serializer("application/sdp")
def sdp(ctx, value):
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")
