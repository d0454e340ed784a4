"""Accounts: users, their sessions and API tokens, and the rules around them.

* :mod:`.service`: :class:`Accounts`, what the web page, the API and the CLI call;
* :mod:`.passwords`: which passwords are refused (``common-passwords.txt``, data);
* :mod:`.keyfile`: the web session's signing key, a 0600 file kept out of backups.

The SQL is in the store (:mod:`appliance.store.users`, :mod:`~appliance.store.sessions`,
:mod:`~appliance.store.tokens`, :mod:`~appliance.store.security_log`).
"""

from appliance.accounts.service import MAX_TOKEN_DAYS, SESSION_LIFETIME, Accounts

__all__ = ["Accounts", "MAX_TOKEN_DAYS", "SESSION_LIFETIME"]
