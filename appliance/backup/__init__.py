"""Backups and restores of an appliance: the database, the config and the site's
profile and format files in one archive (:mod:`.archive`), and a restore that trusts
nothing in it (:mod:`.restore`, :mod:`.schema_check`).

They live apart from :mod:`appliance.store` because they depend on more than the
database: the config, the PBX profiles and the SMDR formats are checked too.
"""
