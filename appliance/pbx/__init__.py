"""The PBX link: profiles as data, an expect/send dialogue engine, and a session over a port.

Layers, lowest first (each imports only the ones above it in this list):

:mod:`appliance.pbx.port_settings`
    Serial settings (baud, bits, parity, ...) read from TOML and checked.
:mod:`appliance.pbx.profiles`
    A PBX family described as a TOML file: methods offered, the maintenance-port
    dialogue, where every fact came from. Shipped files plus a site directory.
:mod:`appliance.pbx.dialogue`
    Expect/send over anything with ``read``/``write``: regexes, monotonic deadlines,
    pacing, noise stripped, secrets masked.
:mod:`appliance.pbx.link`
    One session on a port: open, login, command, status, logout, close.
:mod:`appliance.pbx.commission`
    The installer's step-by-step check of a profile against a real PBX.
"""
