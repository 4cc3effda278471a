"""The node's configuration: one TOML file per instance, checked whole, watched for changes.

Usage::

    from pywats_actors.config import load_config, resolve_config_path, ConfigInvalid

    location = resolve_config_path(args.config, args.instance)
    try:
        loaded = load_config(location.path, instance=location.instance)
    except ConfigInvalid as exc:
        for problem in exc.problems:
            print(problem)        # $.upload.concurrency: expected an integer >= 1 and <= 16, got 0
    config = loaded.config        # a frozen NodeConfig, every path absolute

In the node, :class:`ConfigActor` is the supervised child that owns the configuration: it
loads the file before it reports ready, watches it, and publishes :class:`ConfigChanged` (with
a :class:`ConfigDiff`) or :class:`ConfigRejected` when it changes. :func:`acquire_instance_lock`
keeps a second node off a running instance. ``docs/configuration.md`` is the reference of every
key.

Errors (drawn in full in :mod:`pywats_actors.config._errors`)::

    ConfigError
    ├── ConfigNotFound
    ├── ConfigInvalid (.problems)
    │   ├── ConfigSyntaxError (.line .column)
    │   └── ConfigVersionUnsupported (.version .supported)
    ├── ConfigWriteError
    ├── ConfigExists
    └── InstanceLocked (.instance .pid)
"""

from __future__ import annotations

from ._actor import ConfigActor as ConfigActor
from ._atomic import write_config_atomically as write_config_atomically
from ._commands import ConfigExit as ConfigExit
from ._commands import init_config_command as init_config_command
from ._commands import validate_config_command as validate_config_command
from ._commands import write_default_config as write_default_config
from ._diff import RESTART_REQUIRED_KEYS as RESTART_REQUIRED_KEYS
from ._diff import ConfigDiff as ConfigDiff
from ._diff import diff_configs as diff_configs
from ._errors import ConfigError as ConfigError
from ._errors import ConfigExists as ConfigExists
from ._errors import ConfigInvalid as ConfigInvalid
from ._errors import ConfigNotFound as ConfigNotFound
from ._errors import ConfigSyntaxError as ConfigSyntaxError
from ._errors import ConfigVersionUnsupported as ConfigVersionUnsupported
from ._errors import ConfigWriteError as ConfigWriteError
from ._errors import InstanceLocked as InstanceLocked
from ._load import LoadedConfig as LoadedConfig
from ._load import load_config as load_config
from ._load import parse_config as parse_config
from ._load import read_token as read_token
from ._lock import InstanceLock as InstanceLock
from ._lock import acquire_instance_lock as acquire_instance_lock
from ._messages import ConfigChanged as ConfigChanged
from ._messages import ConfigEvent as ConfigEvent
from ._messages import ConfigRejected as ConfigRejected
from ._paths import DEFAULT_INSTANCE as DEFAULT_INSTANCE
from ._paths import ConfigLocation as ConfigLocation
from ._paths import default_config_path as default_config_path
from ._paths import default_data_dir as default_data_dir
from ._paths import default_runtime_dir as default_runtime_dir
from ._paths import resolve_config_path as resolve_config_path
from ._problems import ConfigProblem as ConfigProblem
from ._schema import CURRENT_SCHEMA_VERSION as CURRENT_SCHEMA_VERSION
from ._schema import ConversionSection as ConversionSection
from ._schema import HealthSection as HealthSection
from ._schema import IpcSection as IpcSection
from ._schema import NodeConfig as NodeConfig
from ._schema import NodeSection as NodeSection
from ._schema import Schedule as Schedule
from ._schema import ServerSection as ServerSection
from ._schema import SpoolSection as SpoolSection
from ._schema import UploadSection as UploadSection
from ._schema import WatchFolder as WatchFolder
from ._template import render_default_config as render_default_config

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "DEFAULT_INSTANCE",
    "RESTART_REQUIRED_KEYS",
    "ConfigActor",
    "ConfigChanged",
    "ConfigDiff",
    "ConfigError",
    "ConfigEvent",
    "ConfigExists",
    "ConfigExit",
    "ConfigInvalid",
    "ConfigLocation",
    "ConfigNotFound",
    "ConfigProblem",
    "ConfigRejected",
    "ConfigSyntaxError",
    "ConfigVersionUnsupported",
    "ConfigWriteError",
    "ConversionSection",
    "HealthSection",
    "InstanceLock",
    "InstanceLocked",
    "IpcSection",
    "LoadedConfig",
    "NodeConfig",
    "NodeSection",
    "Schedule",
    "ServerSection",
    "SpoolSection",
    "UploadSection",
    "WatchFolder",
    "acquire_instance_lock",
    "default_config_path",
    "default_data_dir",
    "default_runtime_dir",
    "diff_configs",
    "init_config_command",
    "load_config",
    "parse_config",
    "read_token",
    "render_default_config",
    "resolve_config_path",
    "validate_config_command",
    "write_config_atomically",
    "write_default_config",
]
