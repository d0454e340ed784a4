"""MQTT: the site's state for Home Assistant and the fleet, override commands, company
closures.

- :mod:`.settings`: the ``[mqtt]`` section of the config, checked;
- :mod:`.topics`: every topic, in one place;
- :mod:`.state`, :mod:`.discovery`, :mod:`.commands`: pure functions (payloads in and out);
- :mod:`.fleet`: the company closure set: checked, versioned, applied, acknowledged;
- :mod:`.client`: the paho client and its threads, wired by :mod:`appliance.daemon`.

docs/mqtt.md is the installer's side: Home Assistant, the broker's ACL, the fleet.
"""
