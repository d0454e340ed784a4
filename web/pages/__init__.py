"""The HTML pages, one module per page; every route is on the one ``pages`` blueprint.

* :mod:`web.pages.frame`: the blueprint, navigation, zone and rendering every page shares
* :mod:`web.pages.status`, :mod:`~web.pages.schedule`, :mod:`~web.pages.log`,
  :mod:`~web.pages.calls`, :mod:`~web.pages.installer`, :mod:`~web.pages.users`: the pages
* :mod:`web.pages.sim_panel`: the virtual front panel of ``nightswitch simulate``
"""

# Importing a page module adds its routes to the blueprint.
from web.pages import calls, installer, log, schedule, sim_panel, status, users  # noqa: F401
from web.pages.frame import bp
from web.pages.status import status_view

__all__ = ["bp", "status_view"]
