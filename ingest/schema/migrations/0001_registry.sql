-- The registry: vans' boards (device id, HMAC key, vehicle, depot) and depot gateways.
-- Gateway tokens are stored only as their SHA-256; the token itself is shown once, at creation.
CREATE TABLE devices (
    device_id  text PRIMARY KEY CHECK (device_id ~ '^[!-~]{1,32}$'),
    key        bytea NOT NULL CHECK (octet_length(key) = 32),
    vehicle    text,
    depot      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_depot ON devices (depot);

CREATE TABLE gateways (
    gateway_id   text PRIMARY KEY,
    token_sha256 bytea NOT NULL UNIQUE,
    depot        text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz
);
