"""Nightswitch: switches a legacy office PBX between day and night service.

The package is laid out along the flow of one decision::

    inputs (key, web, CLI, timers, PBX drift) -> events -> controller
        -> decide() (pure) -> actuators (apply, verify, fall back) -> store, LEDs, web

The pure core (:mod:`appliance.decision.schedule`, :mod:`appliance.decision.dayplan`,
:mod:`appliance.decision.decide`) never reads the clock or touches hardware; everything
with I/O (:mod:`appliance.inputs.clock`, :mod:`appliance.store`, :mod:`appliance.inputs.panel`,
:mod:`appliance.actuators`, :mod:`appliance.pbx`) is injected by
:mod:`appliance.daemon`.
"""

__version__ = "0.1.0"
