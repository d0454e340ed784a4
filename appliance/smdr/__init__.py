"""Call records (SMDR/CDR) from the PBX, and the after-hours report built on them.

One idea per module, in the order a byte travels:

* :mod:`.framing` — bytes from the port to clean lines (NUL, form feed, STX/ETX, CR/LF
  variants, overlong lines);
* :mod:`.formats` — the PBX families' printouts as TOML data (``formats/*.toml``, plus a
  site directory), with :mod:`.templates` for their date, time and duration notation;
* :mod:`.parser` — one line to a :class:`~.record.CallRecord`, a header or junk, pure;
* :mod:`.sources` — where the bytes come from: a serial port, a Telnet login
  (:mod:`.telnet`, :mod:`.login` with its dialogues in ``logins/*.toml``), or a PBX that
  connects to us;
* :mod:`.intake` — the thread that reads the source and stores what it parses;
* :mod:`.detect` — which format and port settings read an unknown PBX's port;
* :mod:`.report` — after-hours calls per night and per hour, and CSV, from the store's
  data.
"""
