"""The registry of devices (vans' boards and their HMAC keys) and depot gateways."""
