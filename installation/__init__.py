"""Two-Way Street: the kiosk program of a gallery installation in which a painter and
neural networks take turns. See README.md for use."""
