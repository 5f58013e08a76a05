"""The configuration: YAML files (native or Azure ML Schedule-YAML) -> one validated ``Config``."""

from triggerd.config.loader import load_config
from triggerd.config.models import (
    AccountKeyCredential,
    AzureBlobDatastore,
    Config,
    Credential,
    Datastore,
    DefaultCredential,
    LocalDatastore,
    SasTokenCredential,
    Schedule,
)
from triggerd.config.pipelines import CommandPipeline, Pipeline

__all__ = [
    "AccountKeyCredential",
    "AzureBlobDatastore",
    "CommandPipeline",
    "Config",
    "Credential",
    "Datastore",
    "DefaultCredential",
    "LocalDatastore",
    "Pipeline",
    "SasTokenCredential",
    "Schedule",
    "load_config",
]
