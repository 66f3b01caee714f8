# ruff: noqa: F821  (a MicroPython manifest: include/module/package come from tools/manifestfile.py)
# The unix port with the firmware frozen in (bytecode, constants and names in the binary, not on the
# heap), as production ESP32 firmware is shipped; built by build_frozen.sh. Paths are relative to
# this file. Every firmware module except the on-target test programs, at -O3 like `make flash`.
include("$(MPY_DIR)/extmod/asyncio")
for name in ("main", "app", "features", "records", "flashlog", "logscan", "upload"):
    module(name + ".py", base_path="../../firmware", opt=3)
package("drivers", base_path="../../firmware", opt=3)
package("hal", base_path="../../firmware", opt=3)
