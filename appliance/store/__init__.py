"""Nightswitch's persistent data: SQLite in the data directory.

:class:`Store` is the façade the daemon, the web layer and the CLI use. The rest of
the package is one idea per module: :mod:`.db` (opening, pragmas, quarantine,
migrations, the consistent snapshot), :mod:`.schema` (the migration steps), one module
per kind of data, :mod:`.lock` (one daemon per data directory). Backups and restores are
:mod:`appliance.backup`.
"""

from appliance.errors import SchemaTooNewError, StoreError
from appliance.store.facade import Store
from appliance.store.lock import DataDirLock, is_held_elsewhere
from appliance.store.schema import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "DataDirLock",
    "SchemaTooNewError",
    "Store",
    "StoreError",
    "is_held_elsewhere",
]
