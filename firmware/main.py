"""Entry point on the board and on the unix port (`micropython main.py` with FACTEUR_WIRING set)."""

import app

app.main()
