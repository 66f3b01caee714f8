"""The physical world a van drives through (roads, GNSS, sensors, Wi-Fi), with its ground truth."""
