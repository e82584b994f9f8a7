"""A fixed bearer token for the Azure SDK clients that talk to the Azure stubs."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken


class StaticToken:
    """What DefaultAzureCredential gives the pipeline: an object with get_token()."""

    def __init__(self, token: str = "stub-azure-token") -> None:  # the Azure stubs' default
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)
