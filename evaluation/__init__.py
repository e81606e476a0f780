"""Figures of trained models against the papers and real data (`motion evaluate`), and the demo (`motion demo`)."""
