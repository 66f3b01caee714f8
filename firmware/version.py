"""The firmware's version: the one place it is defined (reported in the BOOT record, FORMAT.md).

Bump it with every build that goes to boards; ingest shows it as the device's firmware version.
"""

VERSION = "0.2.0"
