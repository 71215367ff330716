"""A chain's centre: `dwell collect` stores every shop's finished records in PostgreSQL.

Shops publish records on ``<prefix>/<store>/<camera>/events`` (edge/delivery/records.py); each
shop's broker bridges them to the central broker; collectors share one MQTT 5 subscription and
write each record once (its id is the primary key), acknowledging it only after the commit.
See docs/fleet.md.
"""
