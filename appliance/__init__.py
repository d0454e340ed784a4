"""Nightswitch: switches a legacy office PBX between day and night service.

The package is laid out along the flow of one decision::

    inputs (key, web, CLI, timers, PBX drift) -> events -> controller
        -> decide() (pure) -> actuators (apply, verify, fall back) -> store, LEDs, web

The pure core (:mod:`appliance.schedule`, :mod:`appliance.dayplan`,
:mod:`appliance.decide`) never reads the clock or touches hardware; everything
with I/O (:mod:`appliance.clock`, :mod:`appliance.store`, :mod:`appliance.panel`,
:mod:`appliance.actuators`, :mod:`appliance.pbx`) is injected by
:mod:`appliance.daemon`.
"""

__version__ = "0.1.0"
