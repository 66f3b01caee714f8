# ruff: noqa: F821  (a MicroPython manifest: include/module/package come from tools/manifestfile.py)
# The unix port with the firmware frozen in (bytecode, constants and names in the binary, not on the
# heap), as production ESP32 firmware is shipped; built by build_frozen.sh. Runs with this folder as
# the working directory. Every firmware module and package (not the on-target test programs, which
# are no package), at -O3 like `make flash`.
from pathlib import Path

include("$(MPY_DIR)/extmod/asyncio")
FIRMWARE = Path("../../firmware")
for entry in sorted(FIRMWARE.iterdir()):
    if entry.suffix == ".py":
        module(entry.name, base_path=str(FIRMWARE), opt=3)
    elif (entry / "__init__.py").is_file():
        package(entry.name, base_path=str(FIRMWARE), opt=3)
