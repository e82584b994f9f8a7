"""boto3 clients for the AWS billing collectors, and botocore errors as one line.

Credentials come from boto3's default chain and ``AWS_ENDPOINT_URL`` is honoured by boto3 itself,
so tests and air-gapped users point every client at a local endpoint without code here. Retries
use botocore's own ``standard`` or ``adaptive`` mode: both back off on throttling and 5xx, and
``adaptive`` also rate-limits the client after a throttle.
"""

from __future__ import annotations

from typing import Any, Literal

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

RetryMode = Literal["standard", "adaptive"]
_UNAUTHORIZED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "UnrecognizedClientException",
    }
)
_THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "LimitExceededException",
        "SlowDown",
        "RequestLimitExceeded",
    }
)


def aws_client(
    service: str,
    *,
    region: str,
    retry_mode: RetryMode = "standard",
    max_attempts: int = 5,
    endpoint_url: str | None = None,
) -> Any:
    """A boto3 client with bounded retries; ``endpoint_url`` None leaves boto3's own choice."""
    import boto3  # imported here: the CLI starts faster when no AWS collector runs

    config = Config(retries={"mode": retry_mode, "max_attempts": max_attempts})
    make: Any = boto3.client  # typed per service name; ours is a plain str
    return make(service, region_name=region, config=config, endpoint_url=endpoint_url)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def explain(exc: BotoCoreError | ClientError) -> str:
    """What went wrong and what to do, in one line, without request ids or secrets."""
    code = error_code(exc)
    if code in _UNAUTHORIZED or isinstance(exc, NoCredentialsError):
        return (
            f"unauthorized ({code or 'no credentials'}); check boto3's credentials and that "
            "the IAM policy allows this call"
        )
    if code in _THROTTLED:
        return f"throttled ({code}) after retries; run again later or lower the request rate"
    if isinstance(exc, EndpointConnectionError):
        return "could not connect; check the network and AWS_ENDPOINT_URL"
    if isinstance(exc, ClientError):
        message = " ".join(str(exc.response.get("Error", {}).get("Message", "")).split())
        return f"AWS refused the request ({code}: {message[:160]})"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
