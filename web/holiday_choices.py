"""What the holiday picker offers: the ``holidays`` library's countries and subdivisions
with readable names, and the public holidays of the coming year (each can be ticked as
"we work on this day", which becomes ``holidays.ignore``). All of it comes from the one
adapter to the library, :mod:`appliance.decision.holiday_source`.
"""

from appliance.decision.holiday_source import (
                                               countries,
                                               country_name,
                                               holiday_names,
                                               subdivisions,
                                               upcoming,
)
from appliance.decision.holiday_source import country_categories as categories

__all__ = ["categories", "countries", "country_name", "holiday_names", "subdivisions",
           "upcoming"]
