"""triggerd: fires pipeline runs from Azure ML style schedules kept in config files."""

__version__ = "0.1.0"
