"""Analyses of what was recovered: vibration maps, motion spectra with modal peaks, voice reports."""
