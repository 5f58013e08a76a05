"""The configuration: YAML files (native or Azure ML Schedule-YAML) -> one validated ``Config``."""

from triggerd.config.loader import LoadedConfig, load_config, load_config_from_texts, read_config
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
    "LoadedConfig",
    "LocalDatastore",
    "Pipeline",
    "SasTokenCredential",
    "Schedule",
    "load_config",
    "load_config_from_texts",
    "read_config",
]
